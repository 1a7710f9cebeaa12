"""The Devin API v3 client: the only module that talks to Devin, and the only one importing httpx.

Everything the rest of the dashboard needs goes through `DevinClient`. Responses are parsed into
frozen dataclasses here, in one place, and every failure becomes a `DevinError` whose `str()` is a
sentence a person can act on. Views catch `DevinError` and nothing else.

The contract is the vendored OpenAPI subset in the shared spec folder
(`devin-v3-sessions.openapi.yaml`, copied from https://docs.devin.ai/v3-openapi.yaml).

Secrets: the API token lives only inside `_BearerAuth`, whose repr is redacted, and is added to
each request by httpx. Exceptions carry strings and numbers only (never a request, a response or
headers) and are raised outside the `except` block that caught the httpx error, so no chained
httpx exception (whose request holds the Authorization header) travels with them.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from dashboard import __version__

logger = logging.getLogger(__name__)

USER_AGENT: Final = f"devin-sessions-dashboard/{__version__}"

# Statuses worth another try: 429 asks us to slow down; 502/503/504 are the gateway or the service
# briefly unable to answer. A 500 is a bug on their side that a retry rarely fixes, so it is not
# retried.
_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
# Backoff for failures without Retry-After: "full jitter" (a random wait between 0 and an
# exponentially growing ceiling), so many dashboards hitting one recovering server spread out.
_BACKOFF_BASE: Final = 0.5
_BACKOFF_CAP: Final = 8.0
# The budget bounds the *sleeping*; the attempt cap bounds how many times a slow server can make
# us wait a full read timeout.
_MAX_ATTEMPTS: Final = 5
# Error bodies are untrusted and can be megabytes of HTML: only this much reaches a message.
_MAX_DETAIL: Final = 300
_MAX_LISTED_ERRORS: Final = 5
_PAGE_SIZE_MAX: Final = 200
# Timestamps outside [1970-01-01T00:00:01, 3000-01-01) are a broken server, not a session.
_MAX_TIMESTAMP: Final = 32_503_680_000
_MILLISECONDS_ABOVE: Final = 1e12

_ID_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAX_ID_LENGTH: Final = 128
_SESSION_PREFIX: Final = "devin-"
_TOKEN_CHARS: Final = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a header value
_SECONDS: Final = re.compile(r"\d+(\.\d+)?")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DevinError(Exception):
    """Any failure talking to the Devin API. `str()` is a sentence for a person.

    `status_code` is the HTTP status when the API answered (None for network failures and local
    problems); `detail` is what the server or the network layer said, shortened, for logs.
    """

    def __init__(self, message: str, *, status_code: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class Misconfigured(DevinError, ValueError):
    """The organization's base URL, org id or token cannot be used to build a request.

    Also a ValueError (it is one), and a DevinError so that views that catch only DevinError show
    it instead of failing with a 500.
    """


class BadCredentials(DevinError):
    """401: the token is unknown, revoked or expired."""


class Forbidden(DevinError):
    """403: the token is valid but lacks the permission (e.g. ManageOrgSessions)."""


class NotFound(DevinError):
    """404: no such session (or organization) for this token."""


class Conflict(DevinError):
    """409: the session's current state does not allow the action."""


class Invalid(DevinError):
    """422: the API rejected the request's parameters."""


class RateLimited(DevinError):
    """429: too many requests. `retry_after` is in seconds when the server said."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, detail=detail)
        self.retry_after = retry_after


class Unavailable(DevinError):
    """5xx, timeouts, refused connections, DNS and TLS failures: the API could not be reached."""


class BadResponse(DevinError):
    """The API answered with something that is not the JSON the contract describes."""


# --------------------------------------------------------------------------------------------
# Typed responses
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Session ids
# --------------------------------------------------------------------------------------------


def normalize_session_id(value: str) -> str:
    """Return the canonical session id ("devin-<id>") for an id, a bare id or a session URL.

    Accepts "devin-abc123", "abc123" and a session URL such as
    "https://app.devin.ai/sessions/abc123" (the segment after /sessions/; query and fragment are
    ignored). Surrounding whitespace is ignored. Raises ValueError with a message that can
    be shown to the person who typed the value.
    """
    shown = _clip(repr(value), 80)
    problem = (
        f"{shown} is not a Devin session id. Use an id like devin-abc123 "
        "or a session URL like https://app.devin.ai/sessions/abc123."
    )
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
    if not candidate or len(candidate) > _MAX_ID_LENGTH or not _ID_CHARS.fullmatch(candidate):
        raise ValueError(problem)
    return _SESSION_PREFIX + candidate


# --------------------------------------------------------------------------------------------
# Parsing: tolerant where the API is open, strict where the dashboard depends on a value
# --------------------------------------------------------------------------------------------


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
    return BadResponse(
        f"The Devin API sent data the dashboard cannot read: {where} {problem}.",
        detail=f"{where} {problem}",
    )


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
        raise _bad(f"{where}.{key}", f"is not a plausible time ({_clip(repr(value), 40)})")
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
        status_detail=_opt_str(data, "status_detail", where),
        title=_opt_str(data, "title", where),
        category=_opt_str(data, "category", where),
        subcategory=_opt_str(data, "subcategory", where),
        origin=_opt_str(data, "origin", where),
        is_archived=is_archived,
        parent_session_id=_opt_str(data, "parent_session_id", where),
        child_session_ids=()
        if children is None
        else _str_list(children, f"{where}.child_session_ids"),
        user_id=_opt_str(data, "user_id", where),
        service_user_id=_opt_str(data, "service_user_id", where),
        playbook_id=_opt_str(data, "playbook_id", where),
        automation_id=_opt_str(data, "automation_id", where),
        devin_mode=_opt_str(data, "devin_mode", where),
        structured_output=structured_output,
        raw=data,
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


def _parse_page(value: object) -> SessionPage:
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


def _parse_identity(value: object) -> Identity:
    where = "identity"
    data = _object(value, where)
    kind = _str(data, "principal_type", where)
    for key in _SELF_REQUIRED.get(kind, ()):
        _str(data, key, where)
    return Identity(
        kind=kind,
        org_id=_opt_str(data, "org_id", where),
        service_user_id=_opt_str(data, "service_user_id", where),
        service_user_name=_opt_str(data, "service_user_name", where),
        user_id=_opt_str(data, "user_id", where),
        user_name=_opt_str(data, "user_name", where),
        api_key_id=_opt_str(data, "api_key_id", where),
        api_key_name=_opt_str(data, "api_key_name", where),
        devin_id=_opt_str(data, "devin_id", where),
        raw=data,
    )


# --------------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------------


def _clip(text: str, limit: int = _MAX_DETAIL) -> str:
    """One line, no control characters, at most `limit` characters: safe for messages and logs."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text[: limit * 4]).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _load_json(content: str | bytes) -> object:
    """Parse JSON, turning every way it can fail into ValueError."""
    try:
        return json.loads(content)
    except RecursionError:  # absurdly nested input
        raise ValueError("JSON nested too deeply") from None


def _render_errors(errors: list[Any]) -> str:
    """Render validation errors, legacy `{loc, msg, type}` or problem+json `errors` items."""
    rendered = []
    for item in errors[:_MAX_LISTED_ERRORS]:
        if isinstance(item, dict):
            loc = item.get("loc", item.get("field"))
            message = item.get("msg", item.get("message", item.get("detail")))
            if isinstance(loc, list):
                loc = ".".join(str(part) for part in loc)
            text = str(message) if message is not None else json.dumps(item, default=str)
            rendered.append(f"{loc}: {text}" if loc else text)
        else:
            rendered.append(str(item))
    if len(errors) > _MAX_LISTED_ERRORS:
        rendered.append(f"and {len(errors) - _MAX_LISTED_ERRORS} more")
    return "; ".join(rendered)


def _error_detail(text: str) -> str:
    """What an error body says, as one short line; "" when it says nothing useful.

    Handles the RFC 9457 problem body (type, title, status, detail, instance, errors) and the
    legacy FastAPI `{"detail": [{"loc", "msg", "type"}]}`; anything else is shown as text.
    """
    try:
        return _describe_body(_load_json(text))
    except (RecursionError, TypeError, ValueError):
        # Not JSON, or JSON too odd to describe: the body is untrusted, so show it as text.
        return _clip(text)


def _describe_body(body: object) -> str:
    if not isinstance(body, dict):
        return _clip(json.dumps(body, default=str)) if body not in (None, "", [], {}) else ""
    detail = body.get("detail")
    errors = body.get("errors")
    title = body.get("title")
    head = ""
    if isinstance(detail, str) and detail.strip():
        head = detail
    elif isinstance(title, str) and title.strip():
        head = title
    listed = ""
    if isinstance(detail, list):
        listed = _render_errors(detail)
    elif isinstance(errors, list) and errors:
        listed = _render_errors(errors)
    if head and listed:
        return _clip(f"{head}: {listed}")
    return _clip(head or listed)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or junk."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _seconds_text(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    if whole < 7200:
        return f"{math.ceil(whole / 60)} minutes"
    return f"{math.ceil(whole / 3600)} hours"


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------

_shared_http: httpx.Client | None = None
_shared_http_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    """The process-wide httpx.Client, created on first use so its pool is reused by every org.

    Created lazily (not at import) so a pre-forking server makes it in each worker, and under a
    lock so two threads that need it at once do not build two pools.
    """
    global _shared_http
    client = _shared_http
    if client is None:
        with _shared_http_lock:
            client = _shared_http
            if client is None:
                # Redirects are not followed: the API does not redirect, and following one could
                # hand a request to a host the admin never configured.
                client = httpx.Client(follow_redirects=False)
                # Close pooled connections at exit rather than leave them to the garbage collector
                # (which warns about each unclosed socket).
                atexit.register(client.close)
                _shared_http = client
    return client


def _setting(name: str, default: float) -> float:
    # Read at call time so tests (and a settings change) take effect without re-importing.
    return float(getattr(settings, name, default))


def _timeout() -> httpx.Timeout:
    # Connect short (a dead host should fail fast), read longer (a page of 200 sessions can be
    # slow); write and pool waits share the read budget.
    return httpx.Timeout(
        _setting("DEVIN_READ_TIMEOUT", 20.0), connect=_setting("DEVIN_CONNECT_TIMEOUT", 5.0)
    )


class _BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <token>`; the only object holding the token. Never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._header = f"Bearer {token}"

    def redact(self, text: str) -> str:
        """Remove the token from text that came back from the server (some echo what they got)."""
        return text.replace(self._token, "[redacted]")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "<_BearerAuth [redacted]>"


@dataclass(frozen=True)
class _Failure:
    """A request that got no HTTP answer."""

    error: DevinError
    # True only when the request certainly never reached the server, so even a POST may be
    # sent again without risking a double action.
    never_sent: bool
    # False for failures that another try cannot fix (a bad certificate, an invalid URL).
    retryable: bool = True


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class DevinClient:
    """Calls the Devin API v3 for one organization with one token.

    Cheap to create (one per request is fine): the connection pool is shared by the process.
    Tests pass `http` (an httpx.Client with a MockTransport) and `sleep`.
    """

    # For Django's error reports: these locals hold the token while the constructor runs.
    @sensitive_variables("token", "secret")
    def __init__(
        self,
        *,
        base_url: str,
        org_id: str,
        token: str,
        label: str = "",
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.org_id = org_id
        self.base_url = base_url.strip().rstrip("/")
        who = _clip(f"{label} ({org_id})" if label else str(org_id), 120)
        try:
            url = httpx.URL(self.base_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            url = None
        if (
            url is None
            or url.scheme not in ("http", "https")
            or not url.host
            or url.userinfo  # credentials in a URL end up in logs
            or url.query
            or url.fragment
        ):
            # A URL with user info may hold a password: never repeat it.
            shown = "one with a user name or password" if "@" in base_url else repr(base_url)
            raise Misconfigured(
                f"The API base URL for {who} must be an http(s) URL like https://api.devin.ai, "
                f"not {_clip(shown, 80)}. An admin can fix it on the Organizations page."
            )
        # The org id goes into the URL path: anything but an id could point at another endpoint.
        if not (isinstance(org_id, str) and _ID_CHARS.fullmatch(org_id)):
            raise Misconfigured(
                f"{_clip(repr(org_id), 80)} is not a Devin org id (expected something like "
                "org-abc123). An admin can fix it on the Organizations page."
            )
        secret = token.strip() if isinstance(token, str) else ""
        if not _TOKEN_CHARS.fullmatch(secret):
            raise Misconfigured(
                f"The token for {who} is empty or contains spaces or non-ASCII characters. "
                "An admin can replace it on the Organizations page."
            )
        self._auth = _BearerAuth(secret)
        self._who = who
        self._host = url.host + (f":{url.port}" if url.port else "")
        self._http = http if http is not None else _shared_client()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<DevinClient {self.label!r} org_id={self.org_id!r} base_url={self.base_url!r}>"

    # -- calls ---------------------------------------------------------------------------------

    def whoami(self) -> Identity:
        """Who the token is: GET /v3/self. Needs no org permission, so it checks the token alone."""
        # Spec operation handle_get_self_v3_self_get; https://docs.devin.ai/api-reference/v3/self
        return _parse_identity(self._call("GET", "/v3/self", subject="this token's identity"))

    def list_page(
        self,
        *,
        first: int = _PAGE_SIZE_MAX,
        after: str | None = None,
        updated_after: int | None = None,
        updated_before: int | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        is_archived: bool | None = None,
        session_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> SessionPage:
        """Fetch one page of sessions (needs ViewOrgSessions). Times are Unix seconds.

        `session_ids` accepts any form `normalize_session_id` does. An empty `session_ids` asks
        for no sessions and returns an empty page without a request: sending no filter would
        return every session instead.
        """
        if not 1 <= first <= _PAGE_SIZE_MAX:
            raise ValueError(f"first must be between 1 and {_PAGE_SIZE_MAX}, not {first!r}")
        for name, values in (("session_ids", session_ids), ("tags", tags)):
            if isinstance(values, str):
                raise TypeError(f"{name} must be a list of strings, not one string")
        if session_ids is not None and not session_ids:
            return SessionPage(items=[], end_cursor=None, has_next_page=False, total=0)

        # The spec wraps these in one object-valued `qs` parameter, but the documented wire form
        # (and FastAPI's) is flat query parameters with arrays as repeated keys.
        params: list[tuple[str, str]] = [("first", str(first))]
        if after is not None:
            params.append(("after", after))
        for name, value in (
            ("updated_after", updated_after),
            ("updated_before", updated_before),
            ("created_after", created_after),
            ("created_before", created_before),
        ):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{name} must be Unix seconds (int), not {value!r}")
                params.append((name, str(value)))
        if is_archived is not None:
            params.append(("is_archived", "true" if is_archived else "false"))
        for session_id in session_ids or ():
            params.append(("session_ids", normalize_session_id(session_id)))
        for tag in tags or ():
            params.append(("tags", tag))

        # Spec operation handle_get_sessions_v3_organizations__org_id__sessions_get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-sessions
        body = self._call(
            "GET",
            f"/v3/organizations/{self.org_id}/sessions",
            subject="the sessions list",
            params=params,
        )
        return _parse_page(body)

    def list_sessions(
        self,
        *,
        first: int = _PAGE_SIZE_MAX,
        updated_after: int | None = None,
        updated_before: int | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        is_archived: bool | None = None,
        session_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Iterator[SessionPage]:
        """Yield every page of sessions matching the filters, following `end_cursor`.

        Stops when the server says there is no next page, gives no cursor, or repeats a cursor it
        already gave (a server bug that would otherwise loop forever).
        """
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_page(
                first=first,
                after=after,
                updated_after=updated_after,
                updated_before=updated_before,
                created_after=created_after,
                created_before=created_before,
                is_archived=is_archived,
                session_ids=session_ids,
                tags=tags,
            )
            yield page
            if not page.has_next_page or page.end_cursor is None:
                return
            if page.end_cursor in seen:
                logger.warning(
                    "Devin API at %s repeated a page cursor for %s; stopped paging",
                    self._host,
                    self._who,
                )
                return
            seen.add(page.end_cursor)
            after = page.end_cursor

    def get_session(self, session_id: str) -> Session:
        """Fetch one session (needs ViewOrgSessions). Raises NotFound if it does not exist."""
        sid = normalize_session_id(session_id)
        # Spec operation handle_get_session_v3_organizations__org_id__sessions__devin_id__get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-session
        body = self._call(
            "GET", f"/v3/organizations/{self.org_id}/sessions/{sid}", subject=f"session {sid}"
        )
        return parse_session(body)

    def archive_session(self, session_id: str) -> Session:
        """Archive a session (needs ManageOrgSessions); a running session is put to sleep.

        The answer has status_detail/category/subcategory/structured_output null: re-read the
        session with get_session for fresh values.
        """
        sid = normalize_session_id(session_id)
        # Spec operation
        # handle_archive_session_v3_organizations__org_id__sessions__devin_id__archive_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-sessions-archive
        body = self._call(
            "POST",
            f"/v3/organizations/{self.org_id}/sessions/{sid}/archive",
            subject=f"session {sid}",
        )
        return parse_session(body)

    def unarchive_session(self, session_id: str) -> Session:
        """Unarchive a session (needs ManageOrgSessions). Child sessions stay archived."""
        sid = normalize_session_id(session_id)
        # Spec operation
        # handle_unarchive_session_v3_organizations__org_id__sessions__devin_id__unarchive_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-sessions-unarchive
        body = self._call(
            "POST",
            f"/v3/organizations/{self.org_id}/sessions/{sid}/unarchive",
            subject=f"session {sid}",
        )
        return parse_session(body)

    # NOT BUILT YET, on purpose (the dashboard does not offer them). When they are:
    # - terminate: DELETE /v3/organizations/{org_id}/sessions/{devin_id}?archive=true|false
    #   (spec operation handle_terminate_session_..._delete). Cannot be undone; like the POSTs,
    #   retry only when the request never left (see _call).
    # - messages: GET/POST /v3/organizations/{org_id}/sessions/{devin_id}/messages
    #   (cursor-paged like the sessions list, items are SessionMessage).

    # -- plumbing ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        params: list[tuple[str, str]] | None = None,
    ) -> object:
        """Send a request with the retry rules below and return the parsed JSON body.

        Retries: a GET changes nothing, so it is retried on 429/502/503/504 and on any network
        failure. A POST (archive, unarchive) is retried only when it certainly never reached the
        server (it could not connect) or when the server answered 429, which means it refused
        the request without acting, and said in Retry-After when to come back. A POST that timed
        out while waiting for the answer may have been applied, so it is not sent again.
        Waits honour Retry-After, otherwise use exponential backoff with full jitter, and all
        waits together stay within DEVIN_RETRY_BUDGET seconds. A Retry-After beyond what is
        left of the budget ends the retries at once, and the error carries retry_after.
        """
        budget = _setting("DEVIN_RETRY_BUDGET", 10.0)
        waited = 0.0
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            outcome = self._send(method, url, params)
            retry_after: float | None = None
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return self._json(outcome)
                error = self._error_for(outcome, subject)
                if outcome.status_code in _RETRY_STATUSES:
                    retry_after = _retry_after(outcome)
                retry = outcome.status_code in _RETRY_STATUSES and (
                    method == "GET" or (outcome.status_code == 429 and retry_after is not None)
                )
            else:
                error = outcome.error
                retry = outcome.retryable and (method == "GET" or outcome.never_sent)

            if not retry or attempt >= _MAX_ATTEMPTS:
                raise error
            remaining = budget - waited
            if retry_after is not None:
                if retry_after > remaining:
                    raise error
                delay = retry_after
            else:
                if remaining <= 0:
                    raise error
                delay = min(random.uniform(0, _backoff_ceiling(attempt)), remaining)
            logger.warning(
                "Devin API %s %s failed for %s (%s); retrying in %.1fs",
                method,
                path,
                self._who,
                error.status_code or type(error).__name__,
                delay,
            )
            self._sleep(delay)
            waited += delay

    def _send(
        self, method: str, url: str, params: list[tuple[str, str]] | None
    ) -> httpx.Response | _Failure:
        """One attempt. Returns the response, or a _Failure if no HTTP answer came back.

        The httpx exception is turned into a _Failure inside the except block and raised later
        by the caller, outside it, so it is never chained to (and does not carry) the httpx one.
        """
        request = self._http.build_request(
            method,
            url,
            params=tuple(params) if params else None,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=_timeout(),
        )
        try:
            return self._http.send(request, auth=self._auth)
        except httpx.HTTPError as exc:
            return self._failure(exc)
        except httpx.InvalidURL as exc:
            return _Failure(
                Misconfigured(
                    f"The API base URL for {self._who} cannot be used: {_clip(str(exc), 120)}.",
                    detail=_clip(str(exc)),
                ),
                never_sent=True,
                retryable=False,
            )

    def _failure(self, exc: httpx.HTTPError) -> _Failure:
        host = self._host
        detail = _clip(self._auth.redact(f"{type(exc).__name__}: {exc}"))
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            # Never got a connection: nothing was sent.
            return _Failure(
                Unavailable(
                    f"Devin API at {host} did not answer in time (could not connect). "
                    "Try again in a minute; if it keeps happening, check the base URL.",
                    detail=detail,
                ),
                never_sent=True,
            )
        if isinstance(exc, httpx.TimeoutException):
            return _Failure(
                Unavailable(
                    f"Devin API at {host} did not answer in time. Try again in a minute.",
                    detail=detail,
                ),
                never_sent=False,
            )
        if isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            if any(word in text for word in ("ssl", "tls", "certificate")):
                # A certificate problem will not fix itself in the next few seconds.
                return _Failure(
                    Unavailable(
                        f"Could not make a secure (TLS) connection to the Devin API at {host}: "
                        "its certificate was not accepted. Check the base URL.",
                        detail=detail,
                    ),
                    never_sent=True,
                    retryable=False,
                )
            if any(
                word in text
                for word in ("name or service", "nodename", "getaddrinfo", "name resolution")
            ):
                message = f"Could not find the Devin API host {host}. Check the base URL."
            elif "refused" in text:
                message = (
                    f"Devin API at {host} refused the connection. "
                    "Try again in a minute; if it keeps happening, check the base URL."
                )
            else:
                message = f"Could not connect to the Devin API at {host}. Try again in a minute."
            return _Failure(Unavailable(message, detail=detail), never_sent=True)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return _Failure(
                Misconfigured(f"The API base URL for {self._who} must use http or https."),
                never_sent=True,
                retryable=False,
            )
        if isinstance(exc, httpx.DecodingError):
            return _Failure(
                BadResponse(
                    f"Devin API at {host} sent a response body that could not be decoded.",
                    detail=detail,
                ),
                never_sent=False,
                retryable=False,
            )
        # Read/write errors, protocol errors: the request may have been received.
        return _Failure(
            Unavailable(
                f"The connection to the Devin API at {host} broke before it answered. "
                "Try again in a minute.",
                detail=detail,
            ),
            never_sent=False,
        )

    def _json(self, response: httpx.Response) -> object:
        try:
            return _load_json(response.content)
        except ValueError:
            pass  # raised below, outside the except block: the JSONDecodeError holds the body
        content_type = _clip(response.headers.get("content-type", "no content type"), 60)
        raise BadResponse(
            f"Devin API at {self._host} answered HTTP {response.status_code} with a body that "
            f"is not JSON ({content_type}). Check the base URL.",
            status_code=response.status_code,
            detail=_clip(self._auth.redact(response.content.decode("utf-8", "replace"))),
        )

    def _error_for(self, response: httpx.Response, subject: str) -> DevinError:
        """The DevinError for an HTTP answer that is not 2xx."""
        status = response.status_code
        detail = _error_detail(self._auth.redact(response.content.decode("utf-8", "replace")))
        who = self._who
        if status == 401:
            return BadCredentials(
                f"The token for {who} was rejected (401). "
                "An admin can replace it on the Organizations page.",
                status_code=status,
                detail=detail,
            )
        if status == 403:
            if detail:
                message = f"Devin refused this for {who} (403): {detail}"
            else:
                message = (
                    f"The token for {who} lacks permission for this action (403). Reading "
                    "sessions needs ViewOrgSessions; archiving needs ManageOrgSessions."
                )
            return Forbidden(message, status_code=status, detail=detail)
        if status == 404:
            return NotFound(
                f"Devin found no {subject} in {who} (404). It may have been deleted, "
                "or the org id or base URL may be wrong.",
                status_code=status,
                detail=detail,
            )
        if status == 409:
            because = f": {detail}" if detail else ""
            return Conflict(
                f"Devin refused to change {subject} in its current state (409){because}. "
                "Refresh to see its state, then try again.",
                status_code=status,
                detail=detail,
            )
        if status == 422:
            return Invalid(
                f"Devin rejected the request for {subject} as invalid (422): "
                f"{detail or 'no details given'}",
                status_code=status,
                detail=detail,
            )
        if status == 429:
            retry_after = _retry_after(response)
            when = (
                f"Try again in {_seconds_text(retry_after)}."
                if retry_after is not None
                else "Try again in a minute."
            )
            return RateLimited(
                f"Devin is rate limiting requests for {who} (429). {when}",
                status_code=status,
                detail=detail,
                retry_after=retry_after,
            )
        if status >= 500:
            # The body of a 5xx is often a proxy's HTML page: kept in detail, not shown.
            return Unavailable(
                f"Devin API at {self._host} is having trouble (HTTP {status}). "
                "Try again in a few minutes.",
                status_code=status,
                detail=detail,
            )
        said = f": {detail}" if detail else ""
        return DevinError(
            f"Devin API at {self._host} answered HTTP {status} for {subject}{said}",
            status_code=status,
            detail=detail,
        )


def _backoff_ceiling(attempt: int) -> float:
    return min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** (attempt - 1))
