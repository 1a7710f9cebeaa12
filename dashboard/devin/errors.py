"""Every failure talking to the Devin API, as data.

The class says how to handle a failure (catch `DevinError`, look for `RateLimited` or `Forbidden`);
`kind` says exactly what happened, so the web layer (`dashboard.wording`) can put it in words.
Each kind belongs to one class: `make_error(kind, ...)` makes the right one.
Nothing here is a sentence for a person: `str()` is a terse line for logs.

Secrets: an error holds strings and numbers only (never a request, a response or headers), and
`detail` has the token removed before the error leaves the client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """What went wrong, one machine name per situation the web layer words differently."""

    # The API answered with a status that is not 2xx.
    BAD_CREDENTIALS = "bad_credentials"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409
    INVALID = "invalid"  # 422
    RATE_LIMITED = "rate_limited"  # 429
    UNAVAILABLE = "unavailable"  # 5xx
    HTTP_ERROR = "http_error"  # any other status
    # No HTTP answer came back.
    CONNECT_TIMEOUT = "connect_timeout"  # no connection in time: nothing was sent
    TIMEOUT = "timeout"  # connected, but no answer in time
    REFUSED = "refused"
    DNS = "dns"
    TLS = "tls"
    CONNECT_FAILED = "connect_failed"
    CONNECTION_LOST = "connection_lost"  # the connection broke after the request went out
    OUT_OF_TIME = "out_of_time"  # the call's deadline left no time to send it: nothing was sent
    # An answer came back that cannot be used.
    NOT_JSON = "not_json"
    UNDECODABLE = "undecodable"  # a body whose content encoding is broken
    BAD_RESPONSE = "bad_response"  # JSON that does not match the contract
    # The request could not be built from the organization's settings.
    MISCONFIGURED = "misconfigured"


class DevinError(Exception):
    """Any failure talking to the Devin API.

    - `kind`: what happened (a `Kind`).
    - `org`, `org_name`, `host`: whose request it was and where it went ("" when unknown).
    - `operation`: which call ("whoami", "list", "get", "archive", "unarchive", "terminate",
      "messages", "send_message", "tags", "append_tags", "replace_tags", "attachments"; "" when
      unknown); `session_id`: the session it was about, if any.
    - `status_code`: the HTTP status when the API answered, else None.
    - `retry_after`: seconds the server asked us to wait (Retry-After), else None.
    - `detail`: what the server or the network layer said, one clipped line, token removed.
    - `maybe_applied`: True when a call that changes something (a POST) may have taken effect
      even though it failed, e.g. it timed out after it was sent.
    - `accepted`: True when the API answered 2xx, so it accepted the request, but the answer
      cannot be used (not JSON, not the contract, or about another session or org).
    """

    def __init__(
        self,
        kind: Kind,
        *,
        status_code: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
        maybe_applied: bool = False,
        accepted: bool = False,
        org: str = "",
        org_name: str = "",
        host: str = "",
        operation: str = "",
        session_id: str = "",
    ) -> None:
        self.kind = Kind(kind)
        super().__init__(self.kind.value)
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        self.accepted = accepted
        self.org = org
        self.org_name = org_name
        self.host = host
        self.operation = operation
        self.session_id = session_id

    def __str__(self) -> str:
        facts = [
            f"HTTP {self.status_code}" if self.status_code is not None else "",
            f"{self.operation} {self.session_id}".strip(),
            f"org {self.org}" if self.org else "",
            f"at {self.host}" if self.host else "",
            f"retry after {self.retry_after:g}s" if self.retry_after is not None else "",
            "maybe applied" if self.maybe_applied else "",
            "accepted" if self.accepted else "",
        ]
        known = ", ".join(fact for fact in facts if fact)
        return (
            self._name()
            + (f" ({known})" if known else "")
            + (f": {self.detail}" if self.detail else "")
        )

    def _name(self) -> str:
        return self.kind.value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class Misconfigured(DevinError, ValueError):
    """The organization's base URL, org id or token cannot be used to build a request.

    `field` names the setting ("base_url", "org_id" or "token"); `detail` is the offending value,
    clipped, never a token, and a URL's user info (which may hold a password) cut to "…@".
    `reason`, when set, is why a well-formed base URL is refused (a link-local address...),
    in the words the Organizations form uses.
    Also a ValueError (it is one), and a DevinError so that views that catch only DevinError
    show it instead of failing with a 500.
    """

    def __init__(
        self, field: str, *, detail: str = "", org: str = "", org_name: str = "", reason: str = ""
    ) -> None:
        super().__init__(Kind.MISCONFIGURED, detail=detail, org=org, org_name=org_name)
        self.field = field
        self.reason = reason

    def _name(self) -> str:
        return f"{self.kind.value} {self.field}"


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


class Unavailable(DevinError):
    """5xx, timeouts, refused connections, DNS and TLS failures: the API could not be reached."""


class BadResponse(DevinError):
    """The API answered with something that is not the JSON the contract describes."""


_CLASS_OF: Final[dict[Kind, type[DevinError]]] = {
    Kind.BAD_CREDENTIALS: BadCredentials,
    Kind.FORBIDDEN: Forbidden,
    Kind.NOT_FOUND: NotFound,
    Kind.CONFLICT: Conflict,
    Kind.INVALID: Invalid,
    Kind.RATE_LIMITED: RateLimited,
    Kind.UNAVAILABLE: Unavailable,
    Kind.CONNECT_TIMEOUT: Unavailable,
    Kind.TIMEOUT: Unavailable,
    Kind.REFUSED: Unavailable,
    Kind.DNS: Unavailable,
    Kind.TLS: Unavailable,
    Kind.CONNECT_FAILED: Unavailable,
    Kind.CONNECTION_LOST: Unavailable,
    Kind.OUT_OF_TIME: Unavailable,
    Kind.NOT_JSON: BadResponse,
    Kind.UNDECODABLE: BadResponse,
    Kind.BAD_RESPONSE: BadResponse,
}
_KIND_OF_STATUS: Final = {
    401: Kind.BAD_CREDENTIALS,
    403: Kind.FORBIDDEN,
    404: Kind.NOT_FOUND,
    409: Kind.CONFLICT,
    422: Kind.INVALID,
    429: Kind.RATE_LIMITED,
}


def kind_of_status(status: int) -> Kind:
    """What an HTTP answer that is not 2xx means."""
    if status >= 500:
        return Kind.UNAVAILABLE
    return _KIND_OF_STATUS.get(status, Kind.HTTP_ERROR)


def make_error(
    kind: Kind,
    *,
    status_code: int | None = None,
    detail: str = "",
    retry_after: float | None = None,
    maybe_applied: bool = False,
) -> DevinError:
    """A new error of the class `kind` belongs to (misconfiguration aside: see Misconfigured)."""
    cls = _CLASS_OF.get(kind, DevinError)
    return cls(
        kind,
        status_code=status_code,
        detail=detail,
        retry_after=retry_after,
        maybe_applied=maybe_applied,
    )
