"""What the dashboard tells a person when a call to Devin fails.

`dashboard.devin` reports failures as data (`DevinError.kind`, status, retry_after, detail...);
this module turns them into one sentence that says what happened and what to do. Views, sync,
bulk archive and the live refresh all word failures here, so they say the same thing the same way.
The actions on a session (`dashboard.actions`) are worded here too: one reason for the row, the
bulk run's item and the audit trail, so the three never tell a different story.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dashboard.crypto import CredentialDecryptError
from dashboard.devin import DevinError, Kind, Misconfigured, RateLimited
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
    if exc.reason:
        return (
            f"The API base URL {shown} for {who} is refused, so nothing was sent to it: "
            f"{exc.reason} {_FIX_ON_ORGS_PAGE}"
        )
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


# -- actions on a session (dashboard.actions) ----------------------------------------------------

NEXT_SYNC = "the next sync will show the result."
# A request that was sent but got no usable answer: it may or may not have been applied.
_SENT_NO_ANSWER: Final[dict[Kind, str]] = {
    Kind.TIMEOUT: "Sent; Devin did not answer in time; " + NEXT_SYNC,
    Kind.CONNECTION_LOST: "Sent; the connection broke before Devin answered; " + NEXT_SYNC,
    Kind.UNAVAILABLE: (
        "Sent; Devin answered with an error (HTTP {status}), so it may or may not have happened; "
        + NEXT_SYNC
    ),
    Kind.NOT_JSON: "Sent; Devin's answer could not be read; " + NEXT_SYNC,
    Kind.UNDECODABLE: "Sent; Devin's answer could not be read; " + NEXT_SYNC,
    Kind.BAD_RESPONSE: "Sent; Devin's answer could not be used ({said}); " + NEXT_SYNC,
}
# A row whose action may have been applied, while a worker re-reads its org (the live refresh).
REREADING = "Devin may have done it; re-reading…"
NO_LONGER_IN_DASHBOARD = "No longer in the dashboard."
INTERNAL_ERROR = "Internal error; see the server log."


@dataclass(frozen=True)
class ActionProblem:
    """What a row says when its action did not end as asked: "<headline> <reason> <note>"."""

    headline: str
    reason: str
    note: str


def sent_unanswered(exc: DevinError | CredentialDecryptError) -> bool:
    """True when the request went out and may have been applied (no usable answer came back)."""
    return isinstance(exc, DevinError) and exc.maybe_applied


def action_reason(
    exc: DevinError | CredentialDecryptError, *, retried: bool = False, cap: float | None = None
) -> str:
    """Why an action on a session did not end as asked: the row, a bulk item and the audit event.

    `retried`: a bulk run puts the session back in its queue (rate limited); `cap`: the longest
    wait a bulk run honours, said when Devin asked for longer.
    """
    if isinstance(exc, DevinError) and exc.maybe_applied:
        sentence = _SENT_NO_ANSWER.get(exc.kind, _SENT_NO_ANSWER[Kind.TIMEOUT])
        return sentence.format(status=exc.status_code, said=exc.detail or "no details given")
    said = describe(exc)
    if retried:
        return f"{said} It is tried again after the pause."
    if (
        cap is not None
        and isinstance(exc, RateLimited)
        and exc.retry_after is not None
        and exc.retry_after > cap
    ):
        waits = duration_words(cap)
        return f"{said} A bulk run waits at most {waits}, so this one was not tried again."
    return said


def action_problem(action: str, exc: DevinError | CredentialDecryptError) -> ActionProblem:
    """The row's words. Only a refusal from Devin (4xx) says that nothing was changed."""
    verb = action.capitalize()
    reason = action_reason(exc)
    if sent_unanswered(exc):
        return ActionProblem(f"{verb} not confirmed.", reason, "")
    if isinstance(exc, DevinError) and exc.status_code is not None:
        return ActionProblem(f"{verb} failed.", reason, "Nothing was changed.")
    return ActionProblem(f"{verb} failed.", reason, "It did not reach Devin.")


def action_flash(action: str, subject: str, exc: DevinError | CredentialDecryptError) -> str:
    """The message after a plain (non-htmx) POST whose action did not end as asked."""
    problem = action_problem(action, exc)
    if sent_unanswered(exc):
        return f"{action.capitalize()} of “{subject}” not confirmed. {problem.reason}"
    return f"Could not {action} “{subject}”: {problem.reason} {problem.note}"


def found_by_reread(action: str, applied: bool | None, *, retried: bool = False) -> str:
    """An action whose process stopped before it recorded Devin's answer, settled by a re-read.

    `applied` is None when a re-read cannot tell (a sent message)."""
    if applied is None:
        return (
            "Its process stopped before recording Devin's answer; "
            "open the conversation to see whether it arrived."
        )
    state = f"{action}d" if applied else f"not {action}d"
    said = f"Its process stopped before recording Devin's answer; a re-read shows it {state}."
    return f"{said} It is tried again." if retried else said


def never_settled(exc: DevinError | CredentialDecryptError) -> str:
    """An action whose process stopped, and whose session could not be re-read for an hour."""
    return (
        "Sent, but its process stopped before recording Devin's answer, and the session could "
        f"not be re-read since ({describe(exc)}); " + NEXT_SYNC
    )


# -- an action Devin accepted (2xx) whose answer could not be used (dashboard.answers) ----------


def _unusable(exc: DevinError) -> str:
    if exc.kind == Kind.NOT_JSON:
        return "it was not JSON"
    return exc.detail or "it did not match the API's contract"


def accepted_note(action: str, applied: bool | None) -> str:
    """The row's note after Devin accepted `action` but its answer could not be used.

    `applied` is what a re-read showed (True), or None when the re-read failed too.
    """
    if applied is None:
        return f"{action.capitalize()}d; details will refresh on the next sync."
    return f"Devin's answer could not be read; a re-read shows it {action}d."


def accepted_detail(
    action: str, exc: DevinError, applied: bool | None, reread_error: DevinError | None
) -> str:
    """The audit detail (and a bulk item's) for the same, with what was wrong with the answer."""
    said = f"Devin accepted it, but its answer could not be used ({_unusable(exc)})"
    if applied is True:
        return f"{said}; a re-read shows it {action}d."
    if applied is False:
        return f"{said}; a re-read shows it not {action}d yet; " + NEXT_SYNC
    why = f" ({describe(reread_error)})" if reread_error is not None else " in time"
    return (
        f"{said}; the session could not be re-read{why}, so it is shown {action}d; "
        "details will refresh on the next sync."
    )
