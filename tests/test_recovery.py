"""Recovery: a sync run no worker holds is ended with a clear reason and the next one queued;
a run still held, or still waiting in the queue for a worker, is left alone. Unit level; the
real processes (SIGKILL of a worker) are in test_background_processes.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dashboard import actions, bulk, recovery, sync
from dashboard.models import AuditEvent, Session, SyncRun
from tests.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def held(org: Any, *, lease: float, **fields: Any) -> SyncRun:
    until = timezone.now() + timedelta(seconds=lease)
    return SyncRun.objects.create(org=org, worker="gone:1", lease_until=until, **fields)


def ago(seconds: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


def test_a_run_whose_lease_ran_out_fails_with_the_reason_and_the_next_carries_on(
    fake: Any, acme: Any, operator: Any, settings: Any
) -> None:
    success = sync.sync_org(acme)
    dead = held(acme, lease=-1, pages=7, seen=1400, triggered_by=operator)
    assert recovery.recover() == 1
    dead.refresh_from_db()
    assert dead.state == SyncRun.State.FAILED
    assert dead.error == (
        "The worker running this sync stopped (restart or crash); "
        "the next sync carries on from the last success."
    )
    assert (dead.worker, dead.lease_until) == ("", None)
    event = AuditEvent.objects.filter(action="sync").latest("at")
    assert (event.outcome, event.actor) == ("failed", operator)
    assert dead.error in event.detail

    queued = SyncRun.objects.get(state=SyncRun.State.QUEUED)
    # From the newest change the last success saw (Devin's clock), minus the overlap.
    assert success.newest_updated_at is not None
    overlap = timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
    assert queued.since == success.newest_updated_at - overlap
    run_queued_tasks()
    queued.refresh_from_db()
    assert queued.state == SyncRun.State.OK and not queued.full
    assert recovery.recover() == 0


def test_a_run_still_held_or_waiting_for_a_worker_is_left_alone(
    fake: Any, acme: Any, globex: Any
) -> None:
    running = held(acme, lease=30)
    waiting, _ = sync.request_sync(globex)
    SyncRun.objects.filter(pk=waiting.pk).update(started_at=ago(3600))  # no worker for an hour
    assert recovery.recover() == 0
    assert SyncRun.objects.get(pk=running.pk).state == SyncRun.State.RUNNING
    assert SyncRun.objects.get(pk=waiting.pk).state == SyncRun.State.QUEUED


def test_a_queued_run_whose_task_was_lost_is_ended_and_queued_again(
    fake: Any, acme: Any, settings: Any
) -> None:
    # Killed between the commit and the enqueue: a queued run with no task.
    lost = SyncRun.objects.create(org=acme, state=SyncRun.State.QUEUED, started_at=ago(120))
    assert recovery.recover() == 1
    lost.refresh_from_db()
    assert lost.state == SyncRun.State.FAILED and lost.error == recovery.LOST
    again = SyncRun.objects.get(state=SyncRun.State.QUEUED)
    assert again.task_id


def test_a_queued_run_whose_worker_died_before_starting_it_is_ended(
    fake: Any, acme: Any, settings: Any
) -> None:
    run, _ = sync.request_sync(acme)
    # A worker took the task from the queue a while ago, and died before claiming the run.
    DBTaskResult.objects.update(status="RUNNING", started_at=ago(settings.RUN_LEASE_SECONDS + 5))
    SyncRun.objects.filter(pk=run.pk).update(started_at=ago(settings.RUN_LEASE_SECONDS + 10))
    assert recovery.recover() == 1
    assert SyncRun.objects.get(pk=run.pk).error == recovery.LOST


def test_a_sync_that_keeps_killing_its_worker_is_retried_once_then_left_to_the_schedule(
    fake: Any, acme: Any
) -> None:
    held(acme, lease=-1)
    recovery.recover()
    retry = SyncRun.objects.get(state=SyncRun.State.QUEUED)
    # The retry's worker dies too.
    SyncRun.objects.filter(pk=retry.pk).update(
        state=SyncRun.State.RUNNING, worker="gone:2", lease_until=ago(1), started_at=ago(2)
    )
    assert recovery.recover() == 1
    assert not SyncRun.objects.filter(state__in=SyncRun.ACTIVE).exists()
    assert list(SyncRun.objects.values_list("error", flat=True)) == [recovery.STOPPED] * 2


def test_one_failing_step_does_not_stop_the_others(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> int:
        raise RuntimeError("bulk table locked")

    monkeypatch.setattr(bulk, "recover_stale_runs", broken)
    monkeypatch.setattr(actions, "settle_open_attempts", lambda: 2)
    held(acme, lease=-1)
    with caplog.at_level(logging.ERROR, logger="dashboard.recovery"):
        assert recovery.recover() == 3  # the sync and the two attempts
    [record] = caplog.records
    assert record.getMessage() == "recovery step broken failed"
    assert "bulk table locked" in (record.exc_text or "")


def test_finished_task_results_are_pruned_after_a_week(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync.request_sync(acme)
    run_queued_tasks()
    sync.request_sync(acme)  # still waiting: never pruned
    DBTaskResult.objects.update(enqueued_at=ago(30 * 86400))
    DBTaskResult.objects.exclude(status="READY").update(finished_at=ago(8 * 86400))
    monkeypatch.setattr(recovery, "_pruned_at", 0.0)
    assert recovery.prune_task_results() == 1
    assert list(DBTaskResult.objects.values_list("status", flat=True)) == ["READY"]
    assert recovery.prune_task_results() == 0  # at most every ten minutes
    assert Session.objects.filter(org=acme).exists()
