"""What the dashboard tells a person when a call to Devin fails.

`dashboard.devin` reports failures as data (`DevinError.kind`, status, retry_after, detail...);
this module turns them into one sentence that says what happened and what to do. Views, sync,
bulk archive and the live refresh all word failures here, so they say the same thing the same way.
"""

from __future__ import annotations

import math

from dashboard.crypto import CredentialDecryptError
from dashboard.devin import DevinError, Kind, Misconfigured

_EXAMPLE_ID = "devin-abc123"
_EXAMPLE_URL = "https://app.devin.ai/sessions/abc123"
_FIX_ON_ORGS_PAGE = "An admin can fix it on the Organizations page."


def describe(exc: DevinError | CredentialDecryptError) -> str:
    """One sentence for a person: what went wrong and what to do about it."""
    if not isinstance(exc, DevinError):
        return str(exc)  # CredentialDecryptError already speaks to the admin
    if isinstance(exc, Misconfigured):
        return _misconfigured(exc)
    who = _who(exc)
    at = f"Devin API at {exc.host}"
    retry_soon = "Try again in a minute; if it keeps happening, check the base URL."
    match exc.kind:
        case Kind.BAD_CREDENTIALS:
            return (
                f"The token for {who} was rejected (401). "
                "An admin can replace it on the Organizations page."
            )
        case Kind.FORBIDDEN if exc.detail:
            return f"Devin refused this for {who} (403): {exc.detail}"
        case Kind.FORBIDDEN:
            return (
                f"The token for {who} lacks permission for this action (403). Reading "
                "sessions needs ViewOrgSessions; archiving needs ManageOrgSessions."
            )
        case Kind.NOT_FOUND if not exc.session_id:
            return (
                f"Devin found nothing for {_subject(exc)} in {who} (404). "
                "The org id or base URL may be wrong."
            )
        case Kind.NOT_FOUND:
            return (
                f"Devin found no {_subject(exc)} in {who} (404). It may have been deleted, "
                "or the org id or base URL may be wrong."
            )
        case Kind.CONFLICT:
            return (
                f"Devin refused to change {_subject(exc)} in its current state (409)"
                f"{_because(exc)}. Refresh to see its state, then try again."
            )
        case Kind.INVALID:
            return (
                f"Devin rejected the request for {_subject(exc)} as invalid (422): "
                f"{exc.detail or 'no details given'}"
            )
        case Kind.RATE_LIMITED:
            when = "a minute" if exc.retry_after is None else _wait_words(exc.retry_after)
            return f"Devin is rate limiting requests for {who} (429). Try again in {when}."
        case Kind.UNAVAILABLE:
            # The body of a 5xx is often a proxy's HTML page: not shown.
            return f"{at} is having trouble (HTTP {exc.status_code}). Try again in a few minutes."
        case Kind.CONNECT_TIMEOUT:
            return f"{at} did not answer in time (could not connect). {retry_soon}"
        case Kind.TIMEOUT:
            return f"{at} did not answer in time. Try again in a minute."
        case Kind.REFUSED:
            return f"{at} refused the connection. {retry_soon}"
        case Kind.DNS:
            return f"Could not find the Devin API host {exc.host}. Check the base URL."
        case Kind.TLS:
            return (
                f"Could not make a secure (TLS) connection to the Devin API at {exc.host}: "
                "its certificate was not accepted. Check the base URL."
            )
        case Kind.CONNECT_FAILED:
            return f"Could not connect to the Devin API at {exc.host}. Try again in a minute."
        case Kind.CONNECTION_LOST:
            return (
                f"The connection to the Devin API at {exc.host} broke before it answered. "
                "Try again in a minute."
            )
        case Kind.NOT_JSON:
            return (
                f"{at} answered HTTP {exc.status_code} with a body that is not JSON. "
                "Check the base URL."
            )
        case Kind.UNDECODABLE:
            return f"{at} sent a response body that could not be decoded."
        case Kind.BAD_RESPONSE:
            return f"The Devin API sent data the dashboard cannot read: {exc.detail}."
    return f"{at} answered HTTP {exc.status_code} for {_subject(exc)}{_because(exc)}"


def not_a_session_ref(value: str) -> str:
    """Why a typed session reference was refused, and what to type instead."""
    return (
        f"{value.strip()[:80]!r} is not a session id or URL. Use an id like {_EXAMPLE_ID} "
        f"or a session URL like {_EXAMPLE_URL}."
    )


def _misconfigured(exc: Misconfigured) -> str:
    who = _who(exc)
    if exc.field == "org_id":
        return (
            f"{exc.detail!r} is not a Devin org id (expected something like org-abc123). "
            f"{_FIX_ON_ORGS_PAGE}"
        )
    if exc.field == "token":
        return (
            f"The token for {who} is empty or contains spaces or non-ASCII characters. "
            "An admin can replace it on the Organizations page."
        )
    # The client leaves out the user info, which may hold a password.
    shown = "one with a user name or password" if "@" in exc.detail else repr(exc.detail)
    return (
        f"The API base URL for {who} must be an http(s) URL like https://api.devin.ai, "
        f"not {shown}. {_FIX_ON_ORGS_PAGE}"
    )


def _who(exc: DevinError) -> str:
    return f"{exc.org_name} ({exc.org})" if exc.org_name else exc.org


def _subject(exc: DevinError) -> str:
    if exc.session_id:
        return f"session {exc.session_id}"
    return {"list": "the sessions list", "whoami": "this token's identity"}.get(
        exc.operation, "this request"
    )


def _because(exc: DevinError) -> str:
    return f": {exc.detail}" if exc.detail else ""


# TODO(lead): use dashboard.timewords
def _wait_words(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    if whole < 7200:
        return f"{math.ceil(whole / 60)} minutes"
    return f"{math.ceil(whole / 3600)} hours"
