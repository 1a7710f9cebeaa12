"""What the dashboard tells a person when a call to Devin fails.

`dashboard.devin` reports failures as data (`DevinError.kind`, status, retry_after, detail...);
this module turns them into one sentence that says what happened and what to do. Views, sync,
bulk archive and the live refresh all word failures here, so they say the same thing the same way.
"""

from __future__ import annotations

from typing import Final

from dashboard.crypto import CredentialDecryptError
from dashboard.devin import DevinError, Kind, Misconfigured
from dashboard.timewords import duration_words

_EXAMPLE_ID = "devin-abc123"
_EXAMPLE_URL = "https://app.devin.ai/sessions/abc123"
_FIX_ON_ORGS_PAGE = "An admin can fix it on the Organizations page."
_RETRY_SOON = "Try again in a minute; if it keeps happening, check the base URL."

# One sentence per kind. {who} is the org, {at} "Devin API at <host>", {subject} what the request
# was about, {said} what Devin said, {because} ": <what Devin said>" when it said something.
_SENTENCES: Final[dict[Kind, str]] = {
    Kind.BAD_CREDENTIALS: (
        "The token for {who} was rejected (401). An admin can replace it on the Organizations page."
    ),
    Kind.FORBIDDEN: (
        "The token for {who} lacks permission for this action (403). Reading sessions needs "
        "ViewOrgSessions; archiving needs ManageOrgSessions."
    ),
    Kind.NOT_FOUND: (
        "Devin found no {subject} in {who} (404). It may have been deleted, "
        "or the org id or base URL may be wrong."
    ),
    Kind.CONFLICT: (
        "Devin refused to change {subject} in its current state (409){because}. "
        "Refresh to see its state, then try again."
    ),
    Kind.INVALID: "Devin rejected the request for {subject} as invalid (422): {said}",
    Kind.RATE_LIMITED: "Devin is rate limiting requests for {who} (429). Try again in {wait}.",
    # The body of a 5xx is often a proxy's HTML page: not shown.
    Kind.UNAVAILABLE: "{at} is having trouble (HTTP {status}). Try again in a few minutes.",
    Kind.HTTP_ERROR: "{at} answered HTTP {status} for {subject}{because}",
    Kind.CONNECT_TIMEOUT: "{at} did not answer in time (could not connect). " + _RETRY_SOON,
    Kind.TIMEOUT: "{at} did not answer in time. Try again in a minute.",
    Kind.REFUSED: "{at} refused the connection. " + _RETRY_SOON,
    Kind.DNS: "Could not find the Devin API host {host}. Check the base URL.",
    Kind.TLS: (
        "Could not make a secure (TLS) connection to the Devin API at {host}: "
        "its certificate was not accepted. Check the base URL."
    ),
    Kind.CONNECT_FAILED: "Could not connect to the Devin API at {host}. Try again in a minute.",
    Kind.CONNECTION_LOST: (
        "The connection to the Devin API at {host} broke before it answered. Try again in a minute."
    ),
    Kind.OUT_OF_TIME: (
        "The time allowed for this ran out before {at} could be asked. Try again in a minute."
    ),
    Kind.NOT_JSON: "{at} answered HTTP {status} with a body that is not JSON. Check the base URL.",
    Kind.UNDECODABLE: "{at} sent a response body that could not be decoded.",
    Kind.BAD_RESPONSE: "The Devin API sent data the dashboard cannot read: {said}.",
}


def describe(exc: DevinError | CredentialDecryptError) -> str:
    """One sentence for a person: what went wrong and what to do about it."""
    if not isinstance(exc, DevinError):
        return str(exc)  # CredentialDecryptError already speaks to the admin
    if isinstance(exc, Misconfigured):
        return _misconfigured(exc)
    who, subject = _who(exc), _subject(exc)
    if exc.kind == Kind.FORBIDDEN and exc.detail:
        return f"Devin refused this for {who} (403): {exc.detail}"
    if exc.kind == Kind.NOT_FOUND and not exc.session_id:
        return (
            f"Devin found nothing for {subject} in {who} (404). "
            "The org id or base URL may be wrong."
        )
    wait = "a minute" if exc.retry_after is None else duration_words(exc.retry_after)
    return _SENTENCES.get(exc.kind, _SENTENCES[Kind.HTTP_ERROR]).format(
        who=who,
        at=f"Devin API at {exc.host}",
        host=exc.host,
        status=exc.status_code,
        subject=subject,
        said=exc.detail or "no details given",
        because=f": {exc.detail}" if exc.detail else "",
        wait=wait,
    )


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
