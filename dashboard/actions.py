"""The one door for every action on a session: archive, unarchive and terminate.

`perform` does the whole job, the same way for the row button, a bulk run and (later) the
retention rules: record the attempt (committed) before Devin is called; call it within the
deadline; check the answer is about the session asked for; note whether the token may manage
sessions; re-read the session for fresh badges in what is left of the deadline; store the newer
of answer and re-read in one write; settle the attempt with its audit event (and the bulk item)
in one transaction. An answer Devin accepted but that cannot be used is dealt with in
`dashboard.answers` (re-read, or the row marked as the action leaves it): the action is done.
A process killed anywhere in between leaves the attempt open, and `settle_open_attempts`
(recovery) settles it by re-reading the session, so every action that may have reached Devin
ends up in the audit trail.

Results are data; the words a person reads come from `dashboard.wording`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from dashboard import answers, audit, devin, sync, wording
from dashboard.answers import MIN_REREAD_SECONDS, deadline_in, shows_applied
from dashboard.crypto import CredentialDecryptError
from dashboard.models import ActionAttempt, AuditEvent, BulkItem, Organization, Session

log = logging.getLogger(__name__)

Failure = devin.DevinError | CredentialDecryptError

# How each action is called.
CALLS: Final[dict[str, Callable[[devin.DevinClient], Callable[..., devin.Session]]]] = {
    "archive": lambda client: client.archive_session,
    "unarchive": lambda client: client.unarchive_session,
    # Stops the session for good; it is not archived (the row stays among the active ones).
    "terminate": lambda client: client.terminate_session,
    # Takes the text too (`perform(..., text=...)`); its answer is the session, as the others'.
    "message": lambda client: client.send_message,
}
# An attempt whose session cannot be re-read for this long is settled as unknown.
GIVE_UP_AFTER: Final = timedelta(hours=1)
# Open attempts one recovery pass looks at, at most.
SETTLE_BATCH: Final = 50


class Outcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"  # Devin answered 4xx: nothing was changed
    RATE_LIMITED = "rate_limited"  # 429: refused for now; retry_after says for how long
    NOT_SENT = "not_sent"  # it never reached Devin (connection, credentials, settings)
    UNKNOWN = "unknown"  # sent, but no usable answer: it may or may not have been applied


AUDIT_OUTCOME: Final = {
    Outcome.DONE: AuditEvent.Outcome.OK,
    Outcome.REFUSED: AuditEvent.Outcome.FAILED,
    Outcome.RATE_LIMITED: AuditEvent.Outcome.FAILED,
    Outcome.NOT_SENT: AuditEvent.Outcome.FAILED,
    Outcome.UNKNOWN: AuditEvent.Outcome.UNKNOWN,
}


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    session: Session  # the stored row afterwards
    error: Failure | None = None
    answer: devin.Session | None = None  # Devin's answer, when done and it could be used
    note: str = ""  # done, but its answer could not be used: what the re-read found
    requeued: bool = False  # a bulk item put back in its run's queue (rate limited)

    @property
    def done(self) -> bool:
        return self.outcome is Outcome.DONE

    @property
    def retry_after(self) -> float | None:
        return self.error.retry_after if isinstance(self.error, devin.DevinError) else None


def outcome_of(exc: Failure) -> Outcome:
    if not isinstance(exc, devin.DevinError):
        return Outcome.NOT_SENT  # the token could not be decrypted: nothing was sent
    if exc.maybe_applied:
        return Outcome.UNKNOWN
    if isinstance(exc, devin.RateLimited):
        return Outcome.RATE_LIMITED
    if exc.status_code is not None:
        return Outcome.REFUSED
    return Outcome.NOT_SENT


def perform(
    session: Session,
    action: str,
    *,
    actor: User | None,
    actor_name: str = "",
    ip: str | None = None,
    context: str = "",
    deadline: float | None = None,
    text: str = "",
) -> ActionResult:
    """Do `action` on `session` at Devin; see the module docstring. Never raises for Devin trouble.

    `text` is the message to send ("message" only); its first 200 characters go in the audit.

    Call it outside a transaction: the attempt must be committed before Devin is called.
    `deadline` (time.monotonic) bounds the call and the re-read; default ACTION_DEADLINE_SECONDS.
    `context` starts the audit detail. `result.session` is the row as stored afterwards.
    """
    if action == "message":
        # The attempt's context (200 characters) is what its audit event says: the text's start.
        context = ": ".join(part for part in (context, text[:200]) if part)
    attempt = _begin(session, action, actor, actor_name, ip, context, None)
    assert attempt is not None  # only a bulk item can be taken by someone else
    return _carry_out(attempt, session, deadline, store=True, max_tries=0, text=text)


def perform_bulk_item(
    item: BulkItem,
    action: str,
    *,
    actor: User | None,
    ip: str | None,
    context: str,
    max_tries: int,
    actor_name: str = "",
    clients: dict[int, devin.DevinClient] | None = None,
) -> ActionResult | None:
    """`perform` for one item of a bulk run, which claims it (pending → working) in the
    transaction that writes its attempt: None if another thread or worker took it first.

    The answer is not stored here: the run stores its answers in batches (`store_answers`),
    which store the same rows. A 429 whose wait is within RETRY_AFTER_CAP_SECONDS puts the item
    back in the queue instead of failing it, until it has been tried `max_tries` times.
    `result.session` is the item's session as passed, not read again. `clients` (by org pk) is
    the run's: each org's client is made once for all its items, not once per call.
    """
    if item.session is None:
        raise ValueError("a bulk item whose session is gone has nothing to act on")
    attempt = _begin(item.session, action, actor, actor_name, ip, context, item)
    if attempt is None:
        return None
    return _carry_out(
        attempt, item.session, None, store=False, max_tries=max_tries, clients=clients
    )


def _begin(
    session: Session,
    action: str,
    actor: User | None,
    actor_name: str,
    ip: str | None,
    context: str,
    bulk_item: BulkItem | None,
) -> ActionAttempt | None:
    """Write the attempt (and claim its bulk item) and commit, before Devin is called."""
    if action not in CALLS:
        raise ValueError(f"unknown action {action!r}")
    with transaction.atomic():
        if bulk_item is not None:
            pending = BulkItem.objects.filter(pk=bulk_item.pk, outcome=BulkItem.Outcome.PENDING)
            if not pending.update(outcome=BulkItem.Outcome.WORKING):
                return None
        return ActionAttempt.objects.create(
            org=session.org,
            session=session,
            devin_id=session.session_id,
            action=action,
            actor=actor if actor is not None and actor.pk else None,
            actor_name=actor_name or (actor.get_username() if actor is not None else ""),
            ip=ip,
            context=context[:200],
            bulk_item=bulk_item,
        )


def _carry_out(
    attempt: ActionAttempt,
    session: Session,
    deadline: float | None,
    *,
    store: bool,
    max_tries: int,
    text: str = "",
    clients: dict[int, devin.DevinClient] | None = None,
) -> ActionResult:
    """Call Devin, check, note can_manage, re-read and store (if `store`), settle."""
    org = session.org
    # Counted from here: time spent waiting for the database is not Devin's to lose.
    deadline = deadline_in() if deadline is None else deadline
    try:
        client = _client(org, clients)
        call = CALLS[attempt.action](client)
        args = (session.session_id, text) if attempt.action == "message" else (session.session_id,)
        answer = call(*args, deadline=deadline)
        answers.check_answer(session, answer)
    except (devin.DevinError, CredentialDecryptError) as exc:
        if isinstance(exc, devin.DevinError) and answers.accepted_unread(attempt.action, exc):
            return _accepted(attempt, session, client, exc, deadline)
        return _failed(attempt, session, exc, max_tries)

    _note_can_manage(org, True)
    fresh = answers.reread(client, session, deadline) if store else None
    stored: dict[str, Session] = {}
    with transaction.atomic():
        if store:
            fresher = {} if fresh is None else {fresh.session_id: fresh}
            stored = answers.store_newer(org, [answer], fresher)
        _settle(attempt, AuditEvent.Outcome.OK, detail="", item=BulkItem.Outcome.OK)
    if attempt.bulk_item_id is None:
        _reload(session, stored.get(session.session_id))
    return ActionResult(Outcome.DONE, session, answer=answer)


def _client(org: Organization, clients: dict[int, devin.DevinClient] | None) -> devin.DevinClient:
    """The org's client, from `clients` if given (made there on first use). Building one decrypts
    the token and checks the base URL: ~0.2-0.5 ms of CPU, once per item in a bulk run."""
    if clients is None:
        return org.client()
    client = clients.get(org.pk)
    if client is None:
        # Two threads may both build one: the same client, and the last one stays.
        client = clients[org.pk] = org.client()
    return client


def _accepted(
    attempt: ActionAttempt,
    session: Session,
    client: devin.DevinClient,
    exc: devin.DevinError,
    deadline: float,
) -> ActionResult:
    """Devin accepted the action (2xx) but its answer cannot be used: re-read and store the
    session (a bulk run's too: there is no answer for its batch), then settle.

    Done, unless the re-read shows the action not applied (yet): then unknown.
    """
    _note_can_manage(session.org, True)
    action = attempt.action
    found = answers.reread_accepted(client, session, action, deadline)
    detail = wording.accepted_detail(action, exc, found.applied, found.error)
    if found.applied is False:
        item, outcome = BulkItem.Outcome.FAILED, AuditEvent.Outcome.UNKNOWN
    else:
        item, outcome = BulkItem.Outcome.OK, AuditEvent.Outcome.OK
    _settle(attempt, outcome, detail=detail, item=item, item_error="" if found.applied else detail)
    if attempt.bulk_item_id is None:
        _reload(session)
    if found.applied is False:
        return ActionResult(Outcome.UNKNOWN, session, error=exc)
    return ActionResult(Outcome.DONE, session, note=wording.accepted_note(action, found.applied))


def _failed(attempt: ActionAttempt, session: Session, exc: Failure, max_tries: int) -> ActionResult:
    outcome = outcome_of(exc)
    if isinstance(exc, devin.Forbidden):
        _note_can_manage(session.org, False)
    retry_after = exc.retry_after if isinstance(exc, devin.DevinError) else None
    cap = settings.RETRY_AFTER_CAP_SECONDS if max_tries else None
    requeued = (
        outcome is Outcome.RATE_LIMITED
        and cap is not None
        and (retry_after is None or retry_after <= cap)
        and ActionAttempt.objects.filter(bulk_item_id=attempt.bulk_item_id).count() < max_tries
    )
    reason = wording.action_reason(exc, retried=requeued, cap=cap)
    item = BulkItem.Outcome.PENDING if requeued else BulkItem.Outcome.FAILED
    _settle(attempt, AUDIT_OUTCOME[outcome], detail=reason, item=item, item_error=reason)
    if attempt.bulk_item_id is None:
        _reload(session)  # the stored row, exactly as it was
    return ActionResult(outcome, session, error=exc, requeued=requeued)


def _reload(session: Session, stored: Session | None = None) -> None:
    """The stored row afterwards, keeping the org it came with: refresh_from_db drops the cached
    org, and the row then rendered would read it again (one more query per click).

    `stored`: the row as this action's store wrote it (and committed), taken instead of reading
    it back (0.75 ms of CPU a click). A field it left deferred is read when used.
    """
    org = session.org
    if stored is None or stored.pk != session.pk:
        session.refresh_from_db()
    else:
        for field in Session._meta.concrete_fields:
            if field.attname in stored.__dict__:
                session.__dict__[field.attname] = stored.__dict__[field.attname]
            else:
                session.__dict__.pop(field.attname, None)
    session.org = org


def _note_can_manage(org: Organization, value: bool) -> None:
    """Remember what Devin said about ManageOrgSessions (there is no safe probe for it)."""
    if org.can_manage is not value:
        Organization.objects.filter(pk=org.pk).update(can_manage=value)
        org.can_manage = value


def _settle(
    attempt: ActionAttempt,
    outcome: str,
    *,
    detail: str,
    item: str,
    item_error: str = "",
) -> bool:
    """Close the attempt and write its audit event (and its bulk item's outcome), exactly once.

    The conditional UPDATE decides who settles: the process that made the call, or recovery.
    """
    # No savepoint inside perform's transaction: a failure rolls the whole settling back anyway.
    with transaction.atomic(savepoint=False):
        settled = ActionAttempt.objects.filter(pk=attempt.pk, settled_at__isnull=True).update(
            settled_at=timezone.now(), outcome=outcome
        )
        if not settled:
            return False
        audit.record(
            attempt.action,
            actor=attempt.actor,
            actor_name=attempt.actor_name,
            org=attempt.org,
            outcome=outcome,
            session_id=attempt.devin_id,
            detail=": ".join(part for part in (attempt.context, detail) if part),
            ip=attempt.ip,
        )
        if attempt.bulk_item_id is not None:
            # Only a claimed item: one that a worker gave up on meanwhile keeps its outcome.
            BulkItem.objects.filter(
                pk=attempt.bulk_item_id, outcome=BulkItem.Outcome.WORKING
            ).update(outcome=item, error=item_error)
    return True


def settle_by_reread(attempt: ActionAttempt, deadline: float | None = None) -> bool:
    """Settle an attempt its process left open: re-read the session and record what it shows.

    Applied: ok (the bulk item too). Not applied: failed, and a bulk item goes back to pending
    (it is tried again). If the session cannot be re-read, leave it for a later pass; after
    GIVE_UP_AFTER, settle it as unknown. Returns True if this call settled it.
    """
    org = attempt.org
    try:
        fresh = org.client().get_session(attempt.devin_id, deadline=deadline or deadline_in())
    except (devin.DevinError, CredentialDecryptError) as exc:
        gone = isinstance(exc, devin.NotFound)
        if not gone and attempt.started_at > timezone.now() - GIVE_UP_AFTER:
            log.info("could not re-read %s to settle its %s: %s", attempt.devin_id, attempt, exc)
            return False
        reason = wording.never_settled(exc)
        return _settle(
            attempt,
            AuditEvent.Outcome.UNKNOWN,
            detail=reason,
            item=BulkItem.Outcome.FAILED,
            item_error=reason,
        )
    applied = shows_applied(attempt.action, fresh)
    if applied is None:
        with transaction.atomic():
            sync.store_sessions(org, [fresh])
            return _settle(
                attempt,
                AuditEvent.Outcome.UNKNOWN,
                detail=wording.found_by_reread(attempt.action, None),
                item=BulkItem.Outcome.FAILED,
            )
    retried = attempt.bulk_item_id is not None and not applied
    reason = wording.found_by_reread(attempt.action, applied, retried=retried)
    with transaction.atomic():
        sync.store_sessions(org, [fresh])
        return _settle(
            attempt,
            AuditEvent.Outcome.OK if applied else AuditEvent.Outcome.FAILED,
            detail=reason,
            item=BulkItem.Outcome.OK if applied else BulkItem.Outcome.PENDING,
            item_error="" if applied or retried else reason,
        )


def open_attempts(older_than: timedelta) -> list[ActionAttempt]:
    cutoff = timezone.now() - older_than
    return list(
        ActionAttempt.objects.filter(settled_at__isnull=True, started_at__lte=cutoff)
        .select_related("org", "actor")
        .order_by("started_at")[:SETTLE_BATCH]
    )


def settle_open_attempts() -> int:
    """Recovery: settle attempts left open longer than any live process could take.

    A live process settles its attempt within ACTION_DEADLINE_SECONDS; a bulk worker's lease
    outlives it by RUN_LEASE_SECONDS. Older open attempts belong to processes that died. One pass
    spends at most one action deadline on re-reads, and skips an org whose re-read failed.
    Returns how many it settled.
    """
    older = settings.ACTION_DEADLINE_SECONDS + settings.RUN_LEASE_SECONDS
    pass_deadline = deadline_in()
    failed_orgs: set[int] = set()
    settled = 0
    for attempt in open_attempts(timedelta(seconds=older)):
        if attempt.org_id in failed_orgs:
            continue
        if time.monotonic() >= pass_deadline - MIN_REREAD_SECONDS:
            break
        if settle_by_reread(attempt, deadline=pass_deadline):
            settled += 1
        elif ActionAttempt.objects.filter(pk=attempt.pk, settled_at__isnull=True).exists():
            failed_orgs.add(attempt.org_id)
    return settled
