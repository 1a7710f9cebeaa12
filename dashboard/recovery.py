"""Recovery: background work that no worker holds any more is noticed and dealt with.

The scheduler (`manage.py sync_sessions --loop`) calls `recover()` on every pass, a few seconds
apart, so work whose worker was killed outright (SIGKILL, OOM, a lost machine) is noticed within
its lease (`RUN_LEASE_SECONDS`) plus one pass:

- a sync run whose lease ran out, or a queued one whose task will never start it, is marked
  failed with the reason, and the next sync is queued: it carries on from the last success;
- bulk runs and open action attempts are the business of dashboard.bulk and dashboard.actions;
- finished task results are pruned after a week, so the queue's table does not grow forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from dashboard import actions, bulk, sync, syncruns
from dashboard.models import SyncRun

log = logging.getLogger(__name__)

STOPPED = (
    "The worker running this sync stopped (restart or crash); "
    "the next sync carries on from the last success."
)
LOST = (
    "No worker started this sync (its queued task was lost); "
    "the next sync carries on from the last success."
)
KEEP_TASK_RESULTS = timedelta(days=7)
PRUNE_EVERY_SECONDS = 600
_pruned_at = 0.0


def recover() -> int:
    """One recovery pass; how many runs and attempts it ended, resumed or settled.

    Each step stands alone: one that fails is logged with its traceback and the others still run.
    """
    steps: list[Callable[[], int]] = [
        recover_syncs,
        bulk.recover_stale_runs,
        actions.settle_open_attempts,
    ]
    done = 0
    for step in steps:
        try:
            done += step()
        except Exception:
            log.exception("recovery step %s failed", step.__name__)
    try:
        prune_task_results()
    except Exception:
        log.exception("pruning finished task results failed")
    return done


def recover_syncs() -> int:
    """End the sync runs no worker holds, and queue the next sync of each org."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.RUN_LEASE_SECONDS)
    runs = SyncRun.objects.select_related("org", "triggered_by")
    ended = 0
    for run in runs.filter(state=SyncRun.State.RUNNING, lease_until__lt=now):
        # Conditional on what we read: a worker that renewed meanwhile keeps its run.
        same = {"worker": run.worker, "lease_until__lt": now}
        ended += _end(run, STOPPED, same)
    for run in runs.filter(state=SyncRun.State.QUEUED, started_at__lt=cutoff):
        if _task_lost(run, cutoff):
            ended += _end(run, LOST, {"task_id": run.task_id})
    return ended


def _task_lost(run: SyncRun, cutoff: datetime) -> bool:
    """True if no worker will ever start this queued run.

    A task still waiting in the queue is not lost (the page says it waits for a worker); one a
    worker took more than a lease ago without claiming the run died with that worker; one that
    ended without claiming it, or that was never enqueued, will not run either.
    """
    if not run.task_id:
        return True
    try:
        task = sync.sync_task.get_result(run.task_id)
    except TaskResultDoesNotExist:
        return True
    if task.status == TaskResultStatus.READY:
        return False
    when = task.finished_at or task.started_at
    return when is None or when < cutoff


def _end(run: SyncRun, reason: str, same: dict[str, object]) -> int:
    with transaction.atomic():
        ended = SyncRun.objects.filter(pk=run.pk, state=run.state, **same).update(
            state=SyncRun.State.FAILED,
            error=reason,
            finished_at=timezone.now(),
            worker="",
            lease_until=None,
        )
        if ended:
            run.state, run.error = SyncRun.State.FAILED, reason
            syncruns.record_end(run)
    if not ended:
        return 0
    log.warning("sync run %s of %s ended: %s", run.pk, run.org.org_id, reason)
    # Once per streak: a sync that kills its worker every time waits for the scheduler's
    # interval (and its back-off) instead of being retried every pass.
    before = run.org.sync_runs.exclude(pk=run.pk).order_by("-started_at").first()
    if before is None or before.error not in (STOPPED, LOST):
        queued, _ = sync.request_sync(run.org)
        log.info("queued sync run %s of %s to carry on", queued.pk, run.org.org_id)
    return 1


def prune_task_results() -> int:
    """Delete finished task results older than a week, at most every ten minutes."""
    global _pruned_at
    if time.monotonic() - _pruned_at < PRUNE_EVERY_SECONDS:
        return 0
    _pruned_at = time.monotonic()
    from django_tasks_db.models import DBTaskResult  # the queue's own table

    old = DBTaskResult.objects.finished().filter(finished_at__lt=timezone.now() - KEEP_TASK_RESULTS)
    deleted, _ = old.delete()
    return deleted
