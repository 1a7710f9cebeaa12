"""Routing of the fake Devin API: from a request to a response, faults applied.

Auth: ``Authorization: Bearer <token>``. A missing or unknown token is 401. A valid token
used on another org's path is 403 (not 404: the fake tells the truth about the mistake,
which is what a dashboard operator needs to fix a misconfigured org id). A view-only token
gets 403 on anything but a GET (archive, unarchive, terminate, sending a message, changing
tags). Errors are RFC 9457 ``application/problem+json``.

The control endpoints under ``/_fake/`` take no auth: the fake is a test tool on loopback.
"""

from __future__ import annotations

import json
import re
import traceback
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from . import session_parts
from .faults import BODY_FAULTS, UNREADABLE_BODY, malformed_json
from .part_faults import break_body
from .query import BadParams, ParamError, flag, parse_list_query
from .state import MANAGE, VIEW, FakeState, Principal
from .store import canonical_session_id

PERMISSION_NAMES = {VIEW: "ViewOrgSessions", MANAGE: "ManageOrgSessions"}
# RFC 9110 renamed 422; Python's HTTPStatus still has the old phrase, the spec uses the new.
_TITLES = {422: "Unprocessable Content"}

_SELF = re.compile(r"/v3/self")
_SESSIONS = re.compile(r"/v3/organizations/(?P<org>[^/]+)/sessions")
_SESSION = re.compile(r"/v3/organizations/(?P<org>[^/]+)/sessions/(?P<sid>[^/]+)")
_ACTION = re.compile(
    r"/v3/organizations/(?P<org>[^/]+)/sessions/(?P<sid>[^/]+)/(?P<action>archive|unarchive)"
)
_PART = re.compile(
    r"/v3/organizations/(?P<org>[^/]+)/sessions/(?P<sid>[^/]+)/(?P<part>messages|tags|attachments)"
)
_FAKE_MESSAGES = re.compile(r"/_fake/sessions/(?P<org>[^/]+)/(?P<sid>[^/]+)/messages")
_FAKE_SESSION = re.compile(r"/_fake/sessions/(?P<org>[^/]+)(?:/(?P<sid>[^/]+))?")


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the path and query string as sent
    authorization: str | None
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path.rstrip("/") or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: object = None  # the decoded body, kept so body faults can rewrite it


def _encode(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    status: int, payload: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status, _encode(payload), headers=headers or [], payload=payload)


def problem(
    status: int,
    detail: str | None,
    instance: str,
    *,
    errors: list[ParamError] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """An RFC 9457 problem, shaped like the spec's ProblemDetail."""
    payload: dict[str, object] = {
        "type": "about:blank",
        "title": _TITLES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        payload["errors"] = errors
    return Response(
        status,
        _encode(payload),
        content_type="application/problem+json",
        headers=headers or [],
        payload=payload,
    )


def respond(fake: FakeState, request: Request) -> Response | None:
    """The answer to ``request``; None when a fault says to send nothing (drop, hang)."""
    path = request.path
    if path.startswith("/v3/"):
        return _api_call(fake, request)
    try:
        return _control(fake, request)
    except Exception:  # a bug in the fake must not hang the client
        traceback.print_exc()
        return problem(500, "Internal error in the fake", path)


# -- the API ----------------------------------------------------------------------------


def _api_call(fake: FakeState, request: Request) -> Response | None:
    method, path = request.method, request.path
    with fake.call_stats.track(method, path):
        fault = fake.take_fault(method, request.target)
        delay = fake.latency
        if fault is not None and fault.kind == "latency":
            delay += fault.seconds or 0.0
        fake.sleep(delay)
        if fault is not None and fault.kind in ("drop", "hang"):
            if fault.kind == "hang":
                fake.sleep(fault.seconds or 0.0)
            return None
        if fault is not None and fault.kind in ("status", "429"):
            assert fault.status is not None
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            return problem(fault.status, "Injected fault", path, headers=headers)
        try:
            response = _route_api(fake, request)
        except Exception:
            traceback.print_exc()
            response = problem(500, "Internal error in the fake", path)
        if fault is not None and fault.kind in BODY_FAULTS and response.status < 300:
            if fault.kind == "malformed_json":
                response.body = malformed_json(response.body)
            elif fault.kind == "unreadable_body":
                response.body = UNREADABLE_BODY
            else:
                response = json_response(response.status, break_body(fault.kind, response.payload))
        return response


def _route_api(fake: FakeState, request: Request) -> Response:
    method, path = request.method, request.path
    principal = fake.authenticate(request.authorization)
    allowed: tuple[str, ...]
    if _SELF.fullmatch(path):
        allowed = ("GET",)
    elif match := _ACTION.fullmatch(path):
        allowed = ("POST",)
    elif match := _PART.fullmatch(path):
        allowed = session_parts.PARTS[match["part"]]
    elif match := _SESSION.fullmatch(path):
        allowed = ("GET", "DELETE")
    elif match := _SESSIONS.fullmatch(path):
        allowed = ("GET",)
    else:
        return problem(404, "Not Found", path)
    if principal is None:
        detail = (
            "Invalid API key"
            if request.authorization
            else "Missing Authorization: Bearer <token> header"
        )
        return problem(401, detail, path, headers=[("WWW-Authenticate", "Bearer")])
    if method not in allowed:
        return problem(
            405, f"Method {method} not allowed", path, headers=[("Allow", ", ".join(allowed))]
        )
    if _SELF.fullmatch(path):
        return json_response(200, _whoami(principal))

    assert match is not None
    org_id = unquote(match["org"])
    if org_id != principal.org_id:
        return problem(403, f"The service user does not have access to organization {org_id}", path)
    needs = MANAGE if method != "GET" else VIEW
    if needs not in principal.perms:
        return problem(
            403, f"The service user lacks the {PERMISSION_NAMES[needs]} permission", path
        )

    if "part" in match.groupdict():
        part = session_parts.answer(
            fake, method, match["part"], org_id, unquote(match["sid"]), request.query, request.body
        )
        if part.status >= 400:
            return problem(part.status, part.detail, path, errors=part.errors)
        return json_response(part.status, part.payload)

    if "sid" not in match.groupdict():
        try:
            page = fake.store.page(org_id, parse_list_query(request.query))
        except BadParams as exc:
            return problem(422, "Invalid query parameters", path, errors=exc.errors)
        return json_response(200, page.as_json())

    session_id = unquote(match["sid"])
    if method == "GET":
        session = fake.store.get(org_id, session_id)
    elif method == "DELETE":
        archive = flag(request.query, "archive")
        session = fake.store.terminate(org_id, session_id, archive=archive)
    elif match["action"] == "archive":
        session = fake.store.archive(org_id, session_id)
    else:
        session = fake.store.unarchive(org_id, session_id)
    if session is None:
        return problem(404, f"Session {canonical_session_id(session_id)} not found", path)
    return json_response(200, session)


def _whoami(principal: Principal) -> dict[str, str]:
    return {
        "principal_type": "service_user",
        "service_user_id": principal.service_user_id,
        "service_user_name": principal.service_user_name,
        "org_id": principal.org_id,
    }


# -- control endpoints ------------------------------------------------------------------


def _control(fake: FakeState, request: Request) -> Response:
    method, path = request.method, request.path
    try:
        data = json.loads(request.body) if request.body.strip() else {}
    except ValueError:
        return problem(400, "Body is not valid JSON", path)
    if not isinstance(data, dict):
        return problem(400, "Body must be a JSON object", path)

    if path == "/" and method == "GET":
        return json_response(200, _index(fake))
    if path == "/_fake/faults":
        if method == "GET":
            return json_response(200, {"faults": [f.as_json() for f in fake.faults]})
        if method == "POST":
            options = {
                k: v for k, v in data.items() if v is not None and k not in ("kind", "count")
            }
            try:
                fault = fake.inject(data.get("kind", ""), data.get("count", 1), **options)
            except ValueError as exc:
                return problem(422, str(exc), path)
            return json_response(201, {"fault": fault.as_json(), "pending": len(fake.faults)})
        if method == "DELETE":
            return json_response(200, {"cleared": fake.clear_faults()})
    elif path == "/_fake/stats" and method == "GET":
        return json_response(200, fake.stats())
    elif path == "/_fake/reset-stats" and method == "POST":
        fake.reset_stats()
        return json_response(200, fake.stats())
    elif path == "/_fake/tokens" and method == "GET":
        return json_response(200, fake.tokens)
    elif path == "/_fake/latency" and method == "POST":
        seconds = data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return problem(422, "seconds must be a non-negative number", path)
        fake.latency = float(seconds)
        return json_response(200, {"latency": fake.latency})
    elif path == "/_fake/conversations" and method == "GET":
        return json_response(200, fake.featured)
    elif (match := _FAKE_MESSAGES.fullmatch(path)) and method == "POST":
        return _control_message(fake, unquote(match["org"]), unquote(match["sid"]), data, path)
    elif (match := _FAKE_SESSION.fullmatch(path)) and method == "POST":
        return _control_session(fake, unquote(match["org"]), match["sid"], data, path)
    return problem(404, f"No control endpoint {method} {path}", path)


def _control_session(
    fake: FakeState, org_id: str, sid: str | None, data: dict[str, Any], path: str
) -> Response:
    """``POST /_fake/sessions/{org_id}[/{session_id}]``: create or update a session."""
    if not fake.store.has_org(org_id):
        return problem(404, f"Unknown organization {org_id}", path)
    try:
        if sid is None:
            return json_response(201, fake.add_session(org_id, **data))
        session_id = unquote(sid)
        if fake.store.get(org_id, session_id) is None:
            return problem(404, f"Session {session_id} not found", path)
        return json_response(200, fake.update_session(org_id, session_id, **data))
    except ValueError as exc:
        return problem(422, str(exc), path)


def _control_message(
    fake: FakeState, org_id: str, session_id: str, data: dict[str, Any], path: str
) -> Response:
    """``POST /_fake/sessions/{org_id}/{session_id}/messages``: say something in a session."""
    text, source = data.get("message"), data.get("source", "devin")
    if not isinstance(text, str) or not isinstance(source, str):
        return problem(422, "message and source must be strings", path)
    try:
        return json_response(201, fake.add_message(org_id, session_id, text, source))
    except KeyError:
        return problem(404, f"Session {org_id}/{session_id} not found", path)
    except ValueError as exc:
        return problem(422, str(exc), path)


def _index(fake: FakeState) -> dict[str, object]:
    """What a human opening the URL in a browser sees."""
    return {
        "name": "Fake Devin API v3 (test tool; tokens are not secrets)",
        "orgs": [
            {"org_id": org_id, "name": name, "sessions": fake.store.count(org_id)}
            for org_id, name in fake.org_names.items()
        ],
        "api": [
            "GET /v3/self",
            "GET /v3/organizations/{org_id}/sessions",
            "GET /v3/organizations/{org_id}/sessions/{devin_id}",
            "DELETE /v3/organizations/{org_id}/sessions/{devin_id}?archive=bool",
            "POST /v3/organizations/{org_id}/sessions/{devin_id}/archive",
            "POST /v3/organizations/{org_id}/sessions/{devin_id}/unarchive",
            "GET|POST /v3/organizations/{org_id}/sessions/{devin_id}/messages",
            "GET|POST|PUT /v3/organizations/{org_id}/sessions/{devin_id}/tags",
            "GET /v3/organizations/{org_id}/sessions/{devin_id}/attachments",
        ],
        "control": [
            "GET|POST|DELETE /_fake/faults",
            "GET /_fake/stats",
            "POST /_fake/reset-stats",
            "GET /_fake/tokens",
            "POST /_fake/latency",
            "POST /_fake/sessions/{org_id}",
            "POST /_fake/sessions/{org_id}/{session_id}",
            "POST /_fake/sessions/{org_id}/{session_id}/messages",
            "GET /_fake/conversations",
        ],
    }
