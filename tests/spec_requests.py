"""Checks what a client SENDS against the Devin API spec, with openapi-core: the path and its
parameters, every query parameter's name, type and array encoding, and the headers (the bearer
token the spec's security scheme asks for). Request bodies are the contract tests' own
request_validator's business.

Used as an httpx request hook (`SpecRequests.hook`) by the contract tests, both on their own raw
requests and on DevinClient's, against the fake over real HTTP.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import RequestBodyValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).parent / "spec" / "devin-v3-sessions.openapi.yaml"


def wire_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the list's object-valued `qs` parameter spelled as what goes on the wire.

    OpenAPI sends an object query parameter in its default style (form, exploded) as one query
    parameter per property, arrays as repeated keys: exactly the flat parameters the docs show.
    openapi-core does not read objects in that style, so each property becomes a parameter of its
    own here, with the same schema. Servers become "/": requests go to the fake, not to Devin.
    """
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": "/"}]
    properties = spec["components"]["schemas"]["SessionsQueryParams"]["properties"]
    for item in spec["paths"].values():
        for operation in item.values():
            parameters = operation.get("parameters", [])
            for parameter in list(parameters):
                if parameter["in"] == "query" and parameter["name"] == "qs":
                    parameters.remove(parameter)
                    parameters += [
                        {"in": "query", "name": name, "required": False, "schema": schema}
                        for name, schema in properties.items()
                    ]
            for parameter in parameters:
                parameter["schema"] = _not_null(parameter["schema"])
    return spec


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` as X. A parameter is never null on the wire (absent is how null is
    sent), and openapi-core reads strings into a type only when the schema names one."""
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**rest, **options[0]}


class _OpenAPIRequest:
    """An httpx.Request as openapi-core's Request protocol wants it."""

    def __init__(self, request: httpx.Request) -> None:
        parts = urlsplit(str(request.url))
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        # As sent, percent-encoded: a "/" inside a session id is not a path separator.
        self.path = _raw_path(request)
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class SpecRequests:
    """Collects, for every request it sees, what the spec says is wrong with it."""

    def __init__(self) -> None:
        self.spec = wire_spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
        self.openapi = OpenAPI.from_dict(self.spec)
        self.seen: list[str] = []
        self.problems: list[str] = []

    def reset(self) -> None:
        self.seen.clear()
        self.problems.clear()

    def check(self, request: httpx.Request) -> list[str]:
        """What is wrong with `request` by the spec; [] when nothing is."""
        result = self.openapi.unmarshal_request(_OpenAPIRequest(request))
        problems = [
            _describe(error)
            for error in result.errors
            if not isinstance(error, RequestBodyValidationError)
        ]
        declared = self._query_names(request)
        if declared is not None:
            problems += [
                f"query parameter {name!r} is not in the spec"
                for name in dict.fromkeys(request.url.params.keys())
                if name not in declared
            ]
        return problems

    def hook(self, request: httpx.Request) -> None:
        """For httpx's event_hooks["request"]: check and remember."""
        self.seen.append(f"{request.method} {request.url.raw_path.decode()}")
        self.problems += [f"{request.method} {request.url}: {p}" for p in self.check(request)]

    def _query_names(self, request: httpx.Request) -> set[str] | None:
        """The query parameters the request's operation declares; None if no operation matches."""
        for template, item in self.spec["paths"].items():
            segments, actual = (
                template.strip("/").split("/"),
                request.url.path.strip("/").split("/"),
            )
            if len(segments) == len(actual) and all(
                s.startswith("{") or s == a for s, a in zip(segments, actual, strict=True)
            ):
                operation = item.get(request.method.lower())
                if operation is not None:
                    params = operation.get("parameters", [])
                    return {p["name"] for p in params if p["in"] == "query"}
        return None


def _raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode("ascii").split("?", 1)[0]


def _describe(error: Exception) -> str:
    causes = [str(cause) for cause in getattr(error, "schema_errors", ())]
    cause = error.__cause__
    while cause is not None:
        causes.append(str(cause).splitlines()[0])
        cause = cause.__cause__
    return f"{type(error).__name__}: {error}" + (f" ({'; '.join(causes)})" if causes else "")
