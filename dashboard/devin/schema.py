"""The Devin API's answers as typed objects, and the one place that parses them.

Tolerant where the API is open (unknown enum values and extra fields are kept), strict where the
dashboard depends on a value: a missing or mistyped field raises `BadResponse` whose `detail`
names it ("session.created_at is missing"). The contract is the vendored OpenAPI subset in the
shared spec folder (`devin-v3-sessions.openapi.yaml`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from dashboard.devin.errors import BadResponse, Kind
from dashboard.devin.problems import clip

# Timestamps outside [1970-01-01T00:00:01, 3000-01-01) are a broken server, not a session.
_MAX_TIMESTAMP: Final = 32_503_680_000
_MILLISECONDS_ABOVE: Final = 1e12

ID_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAX_ID_LENGTH: Final = 128
_SESSION_PREFIX: Final = "devin-"


@dataclass(frozen=True)
class PullRequest:
    """A pull request Devin opened. `pr_url` is untrusted text: link it only if it is http(s)."""

    pr_url: str
    pr_state: str | None


@dataclass(frozen=True, kw_only=True)
class Session:
    """One SessionResponse. Enum-like strings are kept as sent, including values new to us.

    `session_id` is canonical ("devin-<id>"). `status_detail`, `category`, `subcategory` and
    `structured_output` are null in archive/unarchive answers even when known: do not overwrite
    stored values with them. `raw` is the JSON object as received, for storage.
    """

    session_id: str
    url: str
    status: str
    tags: tuple[str, ...]
    org_id: str
    created_at: datetime
    updated_at: datetime
    acus_consumed: float
    pull_requests: tuple[PullRequest, ...]
    status_detail: str | None = None
    title: str | None = None
    category: str | None = None
    subcategory: str | None = None
    origin: str | None = None
    is_archived: bool = False
    parent_session_id: str | None = None
    child_session_ids: tuple[str, ...] = ()
    user_id: str | None = None
    service_user_id: str | None = None
    playbook_id: str | None = None
    automation_id: str | None = None
    devin_mode: str | None = None
    structured_output: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SessionPage:
    """One page of GET /sessions. Pass `end_cursor` as `after` for the next page."""

    items: list[Session]
    end_cursor: str | None
    has_next_page: bool
    total: int | None = None


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who a token is (GET /v3/self). `kind` is the spec's `principal_type`.

    Known kinds: service_user, pat_user, devin_brain, windsurf_session; another value is kept as
    is. Fields a kind does not have are None. `org_id` is None for tokens not bound to one org.
    """

    kind: str
    org_id: str | None = None
    service_user_id: str | None = None
    service_user_name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    api_key_id: str | None = None
    api_key_name: str | None = None
    devin_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The most human name the API gave for this principal."""
        for candidate in (
            self.service_user_name,
            self.user_name,
            self.api_key_name,
            self.service_user_id,
            self.user_id,
            self.devin_id,
        ):
            if candidate:
                return candidate
        return self.kind


def normalize_session_id(value: str) -> str:
    """Return the canonical session id ("devin-<id>") for an id, a bare id or a session URL.

    Accepts "devin-abc123", "abc123" and a session URL such as
    "https://app.devin.ai/sessions/abc123" (the segment after /sessions/; query and fragment are
    ignored). Surrounding whitespace is ignored. Raises ValueError for anything else.
    """
    problem = f"{clip(repr(value), 80)} is not a Devin session id"
    if not isinstance(value, str):
        raise ValueError(problem)
    candidate = value.strip()
    if "/" in candidate:
        parts = urlsplit(candidate)
        if parts.scheme and parts.scheme not in ("http", "https"):
            raise ValueError(problem)
        segments = [segment for segment in parts.path.split("/") if segment]
        # Only a session page URL: "../../self" must not become the id "devin-self".
        is_session_url = len(segments) >= 2 and segments[-2] == "sessions"
        candidate = segments[-1] if is_session_url else ""
    if candidate[: len(_SESSION_PREFIX)].lower() == _SESSION_PREFIX:
        candidate = candidate[len(_SESSION_PREFIX) :]
    if not candidate or len(candidate) > _MAX_ID_LENGTH or not ID_CHARS.fullmatch(candidate):
        raise ValueError(problem)
    return _SESSION_PREFIX + candidate


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bad(where: str, problem: str) -> BadResponse:
    return BadResponse(Kind.BAD_RESPONSE, detail=f"{where} {problem}")


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"should be an object, got {_json_kind(value)}")
    return value


def _present(data: dict[str, Any], key: str, where: str) -> object:
    if key not in data:
        raise _bad(f"{where}.{key}", "is missing")
    return data[key]


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = _present(data, key, where)
    if not isinstance(value, str):
        raise _bad(f"{where}.{key}", f"should be a string, got {_json_kind(value)}")
    return value


def _opt_str(data: dict[str, Any], key: str, where: str) -> str | None:
    # Missing and null mean the same for nullable fields; older API versions lack some of them.
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{where}.{key}", f"should be a string or null, got {_json_kind(value)}")
    return value


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _bad(where, f"should be a list of strings, got {_json_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _bad(f"{where}[{index}]", f"should be a string, got {_json_kind(item)}")
    return tuple(value)


def _timestamp(data: dict[str, Any], key: str, where: str) -> datetime:
    value = _present(data, key, where)
    # bool is an int subclass; True is not a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{where}.{key}", f"should be Unix seconds, got {_json_kind(value)}")
    seconds = value / 1000 if value > _MILLISECONDS_ABOVE else value
    if not 0 < seconds < _MAX_TIMESTAMP:
        raise _bad(f"{where}.{key}", f"is not a plausible time ({clip(repr(value), 40)})")
    return datetime.fromtimestamp(seconds, tz=UTC)


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = _present(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{where}.{key}", f"should be a number, got {_json_kind(value)}")
    return float(value)


def _pull_request(value: object, where: str) -> PullRequest:
    data = _object(value, where)
    # pr_state is "required but nullable" in the spec; a missing key says the same as null.
    return PullRequest(
        pr_url=_str(data, "pr_url", where), pr_state=_opt_str(data, "pr_state", where)
    )


# Session fields that are a string or null: missing and null mean the same.
_SESSION_TEXTS: Final = (
    "status_detail",
    "title",
    "category",
    "subcategory",
    "origin",
    "parent_session_id",
    "user_id",
    "service_user_id",
    "playbook_id",
    "automation_id",
    "devin_mode",
)


def _parse_session(value: object, where: str) -> Session:
    data = _object(value, where)
    session_id = _canonical_id(_str(data, "session_id", where))
    if session_id is None:
        raise _bad(f"{where}.session_id", "is not a session id")

    pull_requests = _present(data, "pull_requests", where)
    if not isinstance(pull_requests, list):
        raise _bad(f"{where}.pull_requests", f"should be a list, got {_json_kind(pull_requests)}")

    is_archived = data.get("is_archived", False)
    if not isinstance(is_archived, bool):
        raise _bad(f"{where}.is_archived", f"should be a boolean, got {_json_kind(is_archived)}")

    children = data.get("child_session_ids")
    structured_output = data.get("structured_output")
    if structured_output is not None and not isinstance(structured_output, dict):
        raise _bad(
            f"{where}.structured_output",
            f"should be an object or null, got {_json_kind(structured_output)}",
        )

    return Session(
        session_id=session_id,
        url=_str(data, "url", where),
        status=_str(data, "status", where),
        tags=_str_list(_present(data, "tags", where), f"{where}.tags"),
        org_id=_str(data, "org_id", where),
        created_at=_timestamp(data, "created_at", where),
        updated_at=_timestamp(data, "updated_at", where),
        acus_consumed=_number(data, "acus_consumed", where),
        pull_requests=tuple(
            _pull_request(item, f"{where}.pull_requests[{index}]")
            for index, item in enumerate(pull_requests)
        ),
        is_archived=is_archived,
        child_session_ids=()
        if children is None
        else _str_list(children, f"{where}.child_session_ids"),
        structured_output=structured_output,
        raw=data,
        **{key: _opt_str(data, key, where) for key in _SESSION_TEXTS},
    )


def _canonical_id(value: str) -> str | None:
    # Errors are raised by the caller, outside this except block, so no chained exception
    # travels with them.
    try:
        return normalize_session_id(value)
    except ValueError:
        return None


def parse_session(data: object) -> Session:
    """Parse one SessionResponse JSON object. Raises BadResponse naming the offending field."""
    return _parse_session(data, "session")


def parse_page(value: object) -> SessionPage:
    data = _object(value, "sessions page")
    items = _present(data, "items", "sessions page")
    if not isinstance(items, list):
        raise _bad("sessions page.items", f"should be a list, got {_json_kind(items)}")
    # The spec gives has_next_page a default of false and makes end_cursor optional; a value that
    # is present must have the right type, though, or paging would silently stop or loop.
    has_next_page = data.get("has_next_page", False)
    if not isinstance(has_next_page, bool):
        raise _bad(
            "sessions page.has_next_page", f"should be a boolean, got {_json_kind(has_next_page)}"
        )
    end_cursor = _opt_str(data, "end_cursor", "sessions page")
    total = data.get("total")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise _bad("sessions page.total", f"should be an integer or null, got {_json_kind(total)}")
    return SessionPage(
        items=[_parse_session(item, f"items[{index}]") for index, item in enumerate(items)],
        end_cursor=end_cursor,
        has_next_page=has_next_page,
        total=total,
    )


# Fields each known principal must have (GET /v3/self's anyOf schemas). Unknown kinds are read
# leniently: a new kind of principal should not break the "check token" button.
_SELF_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "service_user": ("service_user_id", "service_user_name"),
    "pat_user": ("user_id", "user_name", "api_key_id", "api_key_name"),
    "devin_brain": ("devin_id", "org_id", "user_id"),
    "windsurf_session": ("user_id", "org_id"),
}


# Every Identity field but `kind`: each is a string or null, depending on the kind.
_IDENTITY_TEXTS: Final = (
    "org_id",
    "service_user_id",
    "service_user_name",
    "user_id",
    "user_name",
    "api_key_id",
    "api_key_name",
    "devin_id",
)


def parse_identity(value: object) -> Identity:
    where = "identity"
    data = _object(value, where)
    kind = _str(data, "principal_type", where)
    for key in _SELF_REQUIRED.get(kind, ()):
        _str(data, key, where)
    texts = {key: _opt_str(data, key, where) for key in _IDENTITY_TEXTS}
    return Identity(kind=kind, raw=data, **texts)
