"""Devin's answers to the actions on a session (`dashboard.actions`): checked against what was
asked, stored with a re-read for fresh badges, and what is done when Devin accepted an action
but its answer cannot be used.

An answer is stored only if it is about the session asked for, in its org: anything else would
be a phantom row, or another session's state written over this one. A 2xx whose body cannot be
read, or that is about another session or org, still means Devin accepted the action: the
session is re-read (GET) in what is left of the action's deadline and that is stored; if the
re-read fails too, the row is marked as the action leaves it and the next sync brings the rest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dashboard import devin, insightdays, sync
from dashboard.crypto import CredentialDecryptError
from dashboard.devin.problems import clip
from dashboard.models import Organization, Session

log = logging.getLogger(__name__)

# Whether the session is archived once each action has been applied.
ARCHIVED_AFTER: Final = {"archive": True, "unarchive": False}
# Terminate ends in this status (the spec's "exit"); archiving leaves the status as it is.
TERMINATED_STATUS: Final = "exit"
# Less than this left of the deadline: skip the re-read (the answer is stored as it is).
MIN_REREAD_SECONDS: Final = 0.5


def deadline_in(seconds: float | None = None) -> float:
    """A deadline (time.monotonic) for a person's own action: ACTION_DEADLINE_SECONDS from now."""
    return time.monotonic() + (settings.ACTION_DEADLINE_SECONDS if seconds is None else seconds)


def shows_applied(action: str, session: devin.Session | Session) -> bool | None:
    """Whether `session` (a re-read) shows `action` applied; None if it cannot tell (a message)."""
    if action == "message":
        return None
    if action == "terminate":
        return session.status == TERMINATED_STATUS
    return session.is_archived == ARCHIVED_AFTER[action]


def applied_filter(action: str) -> Q:
    """`shows_applied` as a filter on stored sessions (prefix "session__" for a BulkItem's)."""
    if action == "terminate":
        return Q(session__status=TERMINATED_STATUS)
    return Q(session__is_archived=ARCHIVED_AFTER[action])


def check_answer(session: Session, answer: devin.Session) -> None:
    """Refuse an answer that is not about the session asked for, in its org (it is not stored).

    Devin answered 2xx, so the error says it accepted the action (`accepted`).
    """
    org = session.org
    if answer.session_id == session.session_id and answer.org_id == org.org_id:
        return
    raise devin.BadResponse(
        devin.Kind.BAD_RESPONSE,
        detail=f"the answer was about session {clip(answer.session_id, 80)} of "
        f"{clip(answer.org_id, 80)}, not the one asked for",
        maybe_applied=True,
        accepted=True,
        org=org.org_id,
        org_name=org.name,
        session_id=session.session_id,
    )


def accepted_unread(action: str, exc: devin.DevinError | CredentialDecryptError) -> bool:
    """True when Devin accepted `action` (2xx) but its answer cannot be used.

    A sent message is left out: no re-read can tell whether it arrived.
    """
    return isinstance(exc, devin.DevinError) and exc.accepted and action != "message"


@dataclass(frozen=True)
class Reread:
    """What the re-read after an accepted but unreadable answer found, stored already."""

    applied: bool | None  # None: the re-read failed, and the row was marked as the action leaves it
    error: devin.DevinError | None = None  # why the re-read failed


def reread_accepted(
    client: devin.DevinClient, session: Session, action: str, deadline: float
) -> Reread:
    """Re-read a session whose action Devin accepted without a usable answer, and store it.

    If the re-read fails (or no time is left for one), mark the row as the action leaves it:
    Devin said yes, and the next sync brings the details (the row's updated_at is kept, so the
    sync's copy wins).
    """
    error: devin.DevinError | None = None
    if deadline - time.monotonic() >= MIN_REREAD_SECONDS:
        try:
            fresh = client.get_session(session.session_id, deadline=deadline)
        except devin.DevinError as exc:
            error = exc
        else:
            sync.store_sessions(session.org, [fresh])
            return Reread(applied=bool(shows_applied(action, fresh)))
    log.info(
        "%s of %s accepted, its answer unusable, and no re-read (%s): marked %sd",
        action,
        session.session_id,
        error or "no time left",
        action,
    )
    if action in ARCHIVED_AFTER:
        changed: dict[str, object] = {"is_archived": ARCHIVED_AFTER[action]}
    else:
        changed = {"status": TERMINATED_STATUS, "status_detail": ""}
    # synced_at: the live view sends rows written since it last asked.
    with transaction.atomic():
        # The stored row, not `session` (it may be older), is what the insight rollup counts.
        stored = Session.objects.select_for_update().filter(pk=session.pk).first()
        Session.objects.filter(pk=session.pk).update(synced_at=timezone.now(), **changed)
        if stored is not None:
            before = insightdays.fact(stored)
            for name, value in changed.items():
                setattr(stored, name, value)
            insightdays.apply(stored.org_id, [(before, insightdays.fact(stored))])
    return Reread(applied=None, error=error)


def reread(client: devin.DevinClient, session: Session, deadline: float) -> devin.Session | None:
    """The session as Devin has it now, for fresh badges after an action; None if it cannot be."""
    if deadline - time.monotonic() < MIN_REREAD_SECONDS:
        return None
    try:
        return client.get_session(session.session_id, deadline=deadline)
    except devin.DevinError as exc:
        # The action happened: the answer is stored instead, and the next sync catches up.
        log.info("re-read of %s after an action failed: %s", session.session_id, exc)
        return None


def store_newer(
    org: Organization, answers: list[devin.Session], fresh: dict[str, devin.Session]
) -> dict[str, Session]:
    """Store, for each action's answer, whichever of it and its re-read is newer.

    An answer leaves status_detail/category/subcategory null: stored alone, it keeps the known
    values. A re-read (GET or list) has them all. The re-reads are stored in one call and the
    answers in another (a bulk run's batch: two transactions, not one per session; each row is
    still a plain UPDATE). Returns the rows it updated, as stored, by session id.
    """
    newer: list[devin.Session] = []
    alone: list[devin.Session] = []
    for answer in answers:
        fresher = fresh.get(answer.session_id)
        if fresher is not None and fresher.updated_at >= answer.updated_at:
            newer.append(fresher)
        else:
            alone.append(answer)
    stored: list[Session] = []
    if newer:
        stored += sync.store_sessions(org, newer).rows
    if alone:
        stored += sync.store_sessions(org, alone, from_action=True).rows
    return {row.session_id: row for row in stored}


def store_answers(org: Organization, answers: list[devin.Session], action: str) -> int:
    """Store a batch of answers to `action` (a bulk run's), each as perform would have stored it.

    One list call re-reads them all (it keeps a run within its concurrency bound, where a GET
    each would double its calls), then each session gets the newer of answer and re-read, in
    one write for the batch. If the re-read fails the answers are stored alone. Returns how
    many sessions the re-read brought.
    """
    if not answers:
        return 0
    fresh = _reread_listed(org, [a.session_id for a in answers], action)
    store_newer(org, answers, {s.session_id: s for s in fresh})
    return len(fresh)


def refresh_sessions(org: Organization, session_ids: list[str], action: str) -> int:
    """Re-read sessions `action` was applied to and store them (a bulk run whose worker died
    before it stored its answers). Returns how many came back; the next sync does the rest."""
    fresh = _reread_listed(org, session_ids, action)
    for session in fresh:
        sync.store_sessions(org, [session])
    return len(fresh)


def _reread_listed(org: Organization, session_ids: list[str], action: str) -> list[devin.Session]:
    """Sessions by id in one list call (up to 200); [] (logged) if the call fails."""
    if not session_ids:
        return []
    query = devin.SessionQuery(
        session_ids=session_ids, is_archived=ARCHIVED_AFTER.get(action), first=len(session_ids)
    )
    try:
        return org.client().list_page(query, deadline=deadline_in()).items
    except (devin.DevinError, CredentialDecryptError) as exc:
        log.info("re-read of %d sessions after %s failed: %s", len(session_ids), action, exc)
        return []
