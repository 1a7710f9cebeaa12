"""Bulk archive and terminate: a run's items go through the one door (`dashboard.actions`) on
the workers.

A request fixes the target list (`start_bulk`) and enqueues `bulk_task`. The task claims
the run (a lease, `dashboard.leases`), settles what a dead worker left half done, then acts on
pending items with up to BULK_CONCURRENCY threads: each claims its next item with a conditional
UPDATE (pending → working), so no item is ever sent twice by two workers, and all share one
rate-limit pause. After a bounded slice it hands the run back and enqueues itself again, so a
stopping worker lets go quickly and a long run does not hold one worker for ever. The worker
that sees no item left marks the run done and writes its summary event, exactly once.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.tasks import task
from django.utils import timezone

from dashboard import actions, answers, audit, devin, leases, rules, wording
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, BulkItem, BulkRun, Organization, Session

log = logging.getLogger(__name__)

MAX_TARGETS: Final = 10_000
# Tries of one item that Devin keeps rate limiting, before it is left as failed.
MAX_TRIES: Final = 3
# How long one task works on a run before handing it back (and enqueueing the next slice).
SLICE_SECONDS: Final = 20.0
# Sessions re-read for fresh badges in one list call.
REREAD_BATCH: Final = 50
REREAD_MAX: Final = 200  # the most sessions one list call returns
_FETCH: Final = 200
PENDING, WORKING = BulkItem.Outcome.PENDING, BulkItem.Outcome.WORKING


class RateGate:
    """When any thread is told to slow down (429), every thread waits until the pause ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self, stopped: Callable[[], bool]) -> bool:
        """Wait out the pause; False if the work was told to stop meanwhile."""
        while not stopped():
            with self._lock:
                delay = self._until - time.monotonic()
            if delay <= 0:
                return True
            time.sleep(min(delay, 0.2))
        return False


def start_bulk(
    request: AuthenticatedHttpRequest,
    targets: QuerySet[Session],
    description: str,
    action: str = "archive",
) -> BulkRun | None:
    """Fix the target list now and queue the run for the workers. None if nothing matched."""
    sessions = list(targets.order_by("-updated_at").only("pk", "title", "session_id")[:MAX_TARGETS])
    if not sessions:
        return None
    with transaction.atomic():
        run = BulkRun.objects.create(
            actor=request.user,
            action=action,
            description=description[:300],
            ip=audit.client_ip(request),
        )
        BulkItem.objects.bulk_create(
            (
                BulkItem(run=run, session=s, session_label=f"{s.title or s.session_id}"[:300])
                for s in sessions
            ),
            batch_size=1000,
        )
        audit.record(
            f"bulk_{action}",
            request=request,
            detail=f"started: {len(sessions)} sessions; {description}",
        )
        transaction.on_commit(functools.partial(bulk_task.enqueue, run.pk))
    return run


@task()
def bulk_task(run_pk: int) -> None:
    """Work on a bulk run for one slice; safe to run twice (the lease decides who works)."""
    worker = leases.worker_name()
    runs = BulkRun.objects.filter(pk=run_pk)
    claimable = runs.filter(leases.claimable(), state=BulkRun.State.RUNNING)
    if not claimable.update(worker=worker, lease_until=leases.lease_end()):
        return
    run = BulkRun.objects.select_related("actor", "rule").get(pk=run_pk)
    try:
        # Renews the lease; SIGTERM/SIGINT (db_worker stopping) make the slice end early.
        with leases.Hold(runs, worker, listen=True) as hold:
            _Slice(run, lambda: hold.lost or hold.stopping).work()
    finally:
        # Hand the run back and queue its next slice, unless recovery gave it to another
        # worker meanwhile (our lease ran out): that one is queued already.
        if not _finish(run) and runs.filter(worker=worker).update(
            worker="", lease_until=timezone.now()
        ):
            bulk_task.enqueue(run_pk)


class _Slice:
    """One task's turn on a run: settle leftovers, then act until done, stopped or timed out."""

    def __init__(self, run: BulkRun, stopped: Callable[[], bool]) -> None:
        self.run = run
        self.stopped = stopped
        self.end = time.monotonic() + SLICE_SECONDS
        self.gate = RateGate()
        self.queue = _Pending(run)
        self.answers = _Answers(run.action)
        # Each org's Devin client, made once for the slice (a token changed meanwhile is read
        # by the next slice, as the orgs themselves are).
        self.clients: dict[int, devin.DevinClient] = {}

    def work(self) -> None:
        self._store_what_a_dead_worker_did_not()
        while self._going():
            self._settle_leftovers()
            if not self.queue.any_pending():
                if not self.run.items.filter(outcome=WORKING).exists():
                    break
                # A dead worker's items wait for their attempts to age past the deadline.
                time.sleep(0.5)
                continue
            threads = [
                threading.Thread(target=self._thread, name=f"bulk-{self.run.pk}-{n}", daemon=True)
                for n in range(max(1, settings.BULK_CONCURRENCY))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                # Short joins: the main thread must stay free to take SIGTERM.
                while thread.is_alive():
                    thread.join(0.2)
        self.answers.flush()

    def _going(self) -> bool:
        return not self.stopped() and time.monotonic() < self.end

    def _settle_leftovers(self) -> None:
        """Items a dead worker left working: re-read the session if it may have reached Devin."""
        cutoff = timezone.now() - timedelta(seconds=settings.ACTION_DEADLINE_SECONDS)
        for item in self.run.items.filter(outcome=WORKING).order_by("pk"):
            attempt = item.attempts.filter(settled_at__isnull=True).order_by("-pk").first()
            if attempt is None:
                # Claimed, but its attempt was never written: nothing was sent.
                BulkItem.objects.filter(pk=item.pk, outcome=WORKING).update(outcome=PENDING)
            elif attempt.started_at <= cutoff:
                actions.settle_by_reread(attempt)

    def _store_what_a_dead_worker_did_not(self) -> None:
        """Sessions whose items are done but whose answers a killed worker never stored (they
        wait in batches): re-read and store them, so the sessions page shows them as they are."""
        done = self.run.items.filter(outcome=BulkItem.Outcome.OK, session__isnull=False)
        stale = done.exclude(answers.applied_filter(self.run.action))
        by_org: dict[int, tuple[Organization, list[str]]] = {}
        for item in stale.select_related("session__org")[:MAX_TARGETS]:
            if item.session is not None:
                org = item.session.org
                by_org.setdefault(org.pk, (org, []))[1].append(item.session.session_id)
        for org, ids in by_org.values():
            for start in range(0, len(ids), REREAD_MAX):
                answers.refresh_sessions(org, ids[start : start + REREAD_MAX], self.run.action)

    def _thread(self) -> None:
        try:
            while self._going() and self.gate.wait(self.stopped):
                item = self.queue.next()
                if item is None:
                    return
                self._act(item)
        finally:
            connection.close()

    def _act(self, item: BulkItem) -> None:
        session = item.session
        if session is None:
            BulkItem.objects.filter(pk=item.pk, outcome=PENDING).update(
                outcome=BulkItem.Outcome.SKIPPED, error=wording.NO_LONGER_IN_DASHBOARD
            )
            return
        if self.run.rule_id is not None and (reason := rules.recheck(self.run.rule_id, session.pk)):
            # A rule's target that changed since the run started: its safety checks again.
            BulkItem.objects.filter(pk=item.pk, outcome=PENDING).update(
                outcome=BulkItem.Outcome.SKIPPED, error=reason
            )
            return
        try:
            # Claims the item (pending -> working) with its attempt: None if another took it.
            result = actions.perform_bulk_item(
                item,
                self.run.action,
                actor=self.run.actor,
                actor_name=self.run.rule.actor_name if self.run.rule is not None else "",
                ip=self.run.ip,
                context=f"bulk #{self.run.pk}",
                max_tries=MAX_TRIES,
                clients=self.clients,
            )
        except Exception:
            log.exception("bulk #%s: item %s crashed", self.run.pk, item.pk)
            BulkItem.objects.filter(pk=item.pk, outcome=WORKING).update(
                outcome=BulkItem.Outcome.FAILED, error=wording.INTERNAL_ERROR
            )
            return
        if result is None:
            return
        if result.requeued:
            backoff = result.retry_after or random.uniform(0.5, 4.0)
            self.gate.pause(backoff + random.uniform(0, 0.25))
        elif result.answer is not None:
            self.answers.add(session.org, result.answer)


class _Pending:
    """The run's pending items with their sessions, fetched a batch at a time, handed out one by
    one. Items of one org share one Organization, so what a call learns (can_manage) sticks."""

    def __init__(self, run: BulkRun) -> None:
        self._items = run.items.filter(outcome=PENDING).order_by("pk")
        self._lock = threading.Lock()
        self._batch: deque[BulkItem] = deque()
        self._orgs: dict[int, Organization] = {}

    def any_pending(self) -> bool:
        return self._items.exists()

    def next(self) -> BulkItem | None:
        with self._lock:
            if not self._batch:
                for item in self._items.select_related("session", "session__org")[:_FETCH]:
                    if item.session is not None:
                        org = item.session.org
                        item.session.org = self._orgs.setdefault(org.pk, org)
                    self._batch.append(item)
            return self._batch.popleft() if self._batch else None


class _Answers:
    """Devin's answers to the run's calls, stored REREAD_BATCH at a time per org, each batch
    with one re-read for fresh badges (`answers.store_answers`).

    The thread that fills a batch makes the call, so re-reads count within the run's concurrency
    bound. Until its batch is stored a session's row shows its state before the run; if the
    worker is killed meanwhile, the task that resumes the run re-reads those sessions first (the
    items and their audit events are settled already).
    """

    def __init__(self, action: str) -> None:
        self.action = action
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Organization, list[devin.Session]]] = {}

    def add(self, org: Organization, answer: devin.Session) -> None:
        with self._lock:
            _, waiting = self._waiting.setdefault(org.pk, (org, []))
            waiting.append(answer)
            batch = self._waiting.pop(org.pk)[1] if len(waiting) >= REREAD_BATCH else []
        if batch:
            answers.store_answers(org, batch, self.action)

    def flush(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for org, batch in waiting.values():
            answers.store_answers(org, batch, self.action)


def _finish(run: BulkRun) -> bool:
    """If no item is left, mark the run done and write its summary event (once). True if done."""
    if run.items.filter(outcome__in=(PENDING, WORKING)).exists():
        return False
    with transaction.atomic():
        ended = BulkRun.objects.filter(pk=run.pk, state=BulkRun.State.RUNNING).update(
            state=BulkRun.State.DONE, finished_at=timezone.now(), worker="", lease_until=None
        )
        if ended:
            counts = dict(
                run.items.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")
            )
            total = sum(counts.values())
            ok = counts.get(BulkItem.Outcome.OK, 0)
            if run.rule_id is not None:
                rules.run_finished(run, ok, total)
                return True
            audit.record(
                f"bulk_{run.action}_finished",
                actor=run.actor,
                outcome=AuditEvent.Outcome.OK if ok == total else AuditEvent.Outcome.FAILED,
                detail=f"bulk #{run.pk}: {ok} {run.action}d, {total - ok} not, of {total}",
                ip=run.ip,
            )
    return True


def recover_stale_runs() -> int:
    """Recovery: re-enqueue running runs that no live worker holds. Returns how many.

    Held runs whose lease expired (the worker died), and runs nobody claimed for a whole lease
    (their task was lost, or was never enqueued). Each is nudged once per lease: the conditional
    UPDATE that re-enqueues it also restarts its clock, and two recoverers cannot both win it.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.RUN_LEASE_SECONDS)
    stale = BulkRun.objects.filter(state=BulkRun.State.RUNNING).filter(
        Q(~Q(worker=""), lease_until__lte=now)
        | Q(worker="", lease_until__lte=now - lease)
        | Q(worker="", lease_until__isnull=True, started_at__lte=now - lease)
    )
    nudged = 0
    for run_pk, holder, until in stale.values_list("pk", "worker", "lease_until"):
        same = BulkRun.objects.filter(
            pk=run_pk, state=BulkRun.State.RUNNING, worker=holder, lease_until=until
        )
        if same.update(worker="", lease_until=now):
            log.warning("bulk #%s: no live worker holds it (was %r); resuming", run_pk, holder)
            bulk_task.enqueue(run_pk)
            nudged += 1
    return nudged
