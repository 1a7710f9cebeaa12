"""The Devin API's answers as typed objects, and the one place that parses them.

Tolerant where the API is open (unknown enum values and extra fields are kept), strict where the
dashboard depends on a value: a missing or mistyped field raises `BadResponse` whose `detail`
names it ("session.created_at is missing"). In a page of sessions such an item is skipped and
named (`SessionPage.skipped`) and the rest is kept: one odd session must not stop an org's sync.
The contract is the vendored OpenAPI subset in the shared spec folder
(`devin-v3-sessions.openapi.yaml`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from dashboard.devin.errors import BadResponse, Kind
from dashboard.devin.problems import clip

# The spec bounds neither: 0 and negative times are odd but stored as given (pages show them as
# "unknown"). Only what no datetime can hold, outside years 1 to 9999, is refused.
_MIN_TIMESTAMP: Final = -62_135_596_800
_MAX_TIMESTAMP: Final = 253_402_300_799
_MILLISECONDS_ABOVE: Final = 1e12
# Adding to the epoch, unlike datetime.fromtimestamp, works for times before 1970 on every OS.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Org ids go into URL paths unencoded, so they keep a strict shape (forms.ORG_ID_RE).
ID_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")
# The spec gives session ids no shape: any non-empty string is one, URL-encoded in paths. The
# length bound only keeps the unique index usable (PostgreSQL refuses index rows over ~2.7 kB);
# real ids are ~40 characters.
MAX_SESSION_ID_LENGTH: Final = 500
_SESSION_PREFIX: Final = "devin-"
# Characters no database stores: NUL (PostgreSQL) and lone surrogates (not UTF-8 at all).
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


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
class SkippedItem:
    """An item of a page that could not be read: its session id if it had a usable one (else
    "item <index>"), and why, naming the field ("items[3].created_at is missing")."""

    ref: str
    reason: str


@dataclass(frozen=True)
class SessionPage:
    """One page of GET /sessions. Pass `end_cursor` as `after` for the next page.

    `skipped` lists the items that could not be read; `items` holds the rest.
    """

    items: list[Session]
    end_cursor: str | None
    has_next_page: bool
    total: int | None = None
    skipped: list[SkippedItem] = field(default_factory=list)


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


def canonical_session_id(value: object) -> str:
    """The canonical form ("devin-<id>") of a session id as the API gives it.

    Any non-empty string is an id (the spec gives ids no shape); a missing "devin-" prefix is
    added. Raises ValueError, saying why, for what cannot be an id: not a string, empty, longer
    than MAX_SESSION_ID_LENGTH, or holding characters no database stores (NUL).
    """
    if not isinstance(value, str):
        raise ValueError("is not a string")
    if value[: len(_SESSION_PREFIX)].lower() == _SESSION_PREFIX:
        value = value[len(_SESSION_PREFIX) :]
    if not value:
        raise ValueError("is empty")
    if len(value) > MAX_SESSION_ID_LENGTH:
        raise ValueError(f"is longer than {MAX_SESSION_ID_LENGTH} characters")
    if _UNSTORABLE.search(value):
        raise ValueError("holds a character no database can store (NUL)")
    return _SESSION_PREFIX + value


def path_segment(session_id: str) -> str:
    """A canonical session id as one URL path segment: "/", "?", "#", "%" and the rest encoded."""
    return quote(session_id, safe="")


def normalize_session_id(value: str) -> str:
    """Return the canonical session id ("devin-<id>") for what a person typed or pasted.

    Accepts "devin-abc123", "abc123" and a session URL such as
    "https://app.devin.ai/sessions/abc123" (the segment after /sessions/; query and fragment are
    ignored). Surrounding whitespace is ignored; whitespace or control characters inside are a
    typo, not an id. Raises ValueError for anything else.
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
        candidate = unquote(segments[-1]) if is_session_url else ""
    if any(not ch.isprintable() or ch.isspace() for ch in candidate):
        raise ValueError(problem)
    try:
        return canonical_session_id(candidate)
    except ValueError:
        pass  # raised below, outside the except block
    raise ValueError(problem)


def clean_text(value: str) -> str:
    """`value` with the characters no database stores (NUL, lone surrogates) replaced by U+FFFD:
    visible, and never a crash on PostgreSQL."""
    return _UNSTORABLE.sub("\ufffd", value) if _UNSTORABLE.search(value) else value


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
    if not _MIN_TIMESTAMP <= seconds <= _MAX_TIMESTAMP:
        raise _bad(f"{where}.{key}", f"is not a time any calendar holds ({clip(repr(value), 40)})")
    return _EPOCH + timedelta(seconds=seconds)


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
    session_id, problem = _canonical_id(_str(data, "session_id", where))
    if session_id is None:
        raise _bad(f"{where}.session_id", problem)

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


def _canonical_id(value: str) -> tuple[str | None, str]:
    # Errors are raised by the caller, outside this except block, so no chained exception
    # travels with them.
    try:
        return canonical_session_id(value), ""
    except ValueError as exc:
        return None, str(exc)


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
    sessions: list[Session] = []
    skipped: list[SkippedItem] = []
    for index, item in enumerate(items):
        try:
            sessions.append(_parse_session(item, f"items[{index}]"))
        except BadResponse as exc:
            skipped.append(SkippedItem(_item_ref(item, index), exc.detail))
    return SessionPage(
        items=sessions,
        end_cursor=end_cursor,
        has_next_page=has_next_page,
        total=total,
        skipped=skipped,
    )


def _item_ref(item: object, index: int) -> str:
    """How to name an unreadable item: its session id when it has a readable one."""
    raw = item.get("session_id") if isinstance(item, dict) else None
    if isinstance(raw, str) and raw.strip():
        return clip(clean_text(raw), 80)
    return f"item {index}"


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
