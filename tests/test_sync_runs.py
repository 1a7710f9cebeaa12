"""Sync runs: one active sync per org whoever asks, the task that is safe to run twice, the lease,
the hand-back on SIGTERM, and a crash that fails one org's run but never the others'. Unit level:
queued tasks run in this process (run_queued_tasks); real workers are in
test_background_processes.py."""

from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dashboard import sync, syncruns
from dashboard.models import AuditEvent, Session, SyncRun
from tests.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def list_calls(fake: Any) -> int:
    return len([path for _, path in fake.calls if path.endswith("/sessions")])


def held(org: Any, *, lease: float = 60, **fields: Any) -> SyncRun:
    """A run a worker holds (or held, with a negative lease)."""
    until = timezone.now() + timedelta(seconds=lease)
    return SyncRun.objects.create(org=org, worker="other-host:42", lease_until=until, **fields)


def test_everyone_who_asks_gets_the_one_queued_run(fake: Any, acme: Any, operator: Any) -> None:
    first, new = sync.request_sync(acme, user=operator)
    again, new_again = sync.request_sync(acme)
    assert (new, new_again) == (True, False)
    assert again.pk == first.pk and again.state == SyncRun.State.QUEUED
    assert SyncRun.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


def test_the_task_is_safe_to_run_twice(fake: Any, acme: Any) -> None:
    run, _ = sync.request_sync(acme)
    fake.reset_stats()
    assert sync.sync_task.call(run.pk) == SyncRun.State.OK
    assert sync.sync_task.call(run.pk) == "not claimed"
    assert list_calls(fake) == 2  # one sync: archived and not
    assert AuditEvent.objects.filter(action="sync").count() == 1


def test_the_command_line_takes_over_a_queued_run_no_worker_started(
    fake: Any, acme: Any, operator: Any
) -> None:
    queued, _ = sync.request_sync(acme, user=operator)
    fake.reset_stats()
    run = sync.sync_org(acme)
    assert run.pk == queued.pk and run.state == SyncRun.State.OK
    assert run.triggered_by == operator  # still the press that asked for it
    run_queued_tasks()  # the queued task then finds nothing to do
    assert list_calls(fake) == 2
    assert SyncRun.objects.get().state == SyncRun.State.OK


def test_the_command_line_takes_over_a_run_whose_worker_died(fake: Any, acme: Any) -> None:
    dead = held(acme, lease=-1, pages=4)
    run = sync.sync_org(acme)
    assert run.pk == dead.pk and run.state == SyncRun.State.OK
    assert run.pages == 2  # counted afresh: one page of each, archived and not
    assert Session.objects.filter(org=acme).count() == len(fake.sessions("org-acme"))


def test_the_command_line_refuses_while_a_worker_holds_a_sync(
    fake: Any, acme: Any, globex: Any
) -> None:
    held(acme)
    with pytest.raises(syncruns.SyncActive):
        sync.sync_org(acme)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="did not sync"):
        call_command("sync_sessions", stdout=out, stderr=err)
    assert "org-acme: a sync is already running (since " in err.getvalue()
    assert ", on other-host:42); not starting another" in err.getvalue()
    assert "org-globex: full sync ok" in out.getvalue()  # the next org still synced
    assert not Session.objects.filter(org=acme).exists()


def test_a_crash_fails_that_orgs_run_with_a_reason_and_the_next_org_syncs(
    fake: Any,
    acme: Any,
    globex: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = sync.store_sessions

    def odd_data(org: Any, items: Any, **kwargs: Any) -> Any:
        if org.org_id == "org-acme":
            raise KeyError("a field nobody expected")
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", odd_data)
    err = StringIO()
    with caplog.at_level(logging.ERROR), pytest.raises(CommandError):
        call_command("sync_sessions", stdout=StringIO(), stderr=err)
    assert f"org-acme: sync failed: {sync.INTERNAL_ERROR}" in err.getvalue()
    acme_run, globex_run = SyncRun.objects.order_by("org__org_id")
    assert (acme_run.state, acme_run.error) == (SyncRun.State.FAILED, sync.INTERNAL_ERROR)
    assert (acme_run.worker, acme_run.lease_until) == ("", None)  # released, not left running
    assert globex_run.state == SyncRun.State.OK
    [crash] = [r for r in caplog.records if r.getMessage() == "sync of org-acme crashed"]
    assert "a field nobody expected" in (crash.exc_text or "")
    event = AuditEvent.objects.get(action="sync", org=acme)
    assert event.outcome == "failed" and sync.INTERNAL_ERROR in event.detail


def test_sigterm_hands_the_run_back_between_pages(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = sync.store_sessions
    signalled: list[bool] = []

    def deploy_midway(org: Any, items: Any, **kwargs: Any) -> Any:
        if not signalled:  # systemd stops the worker while it stores the first page
            signalled.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", deploy_midway)
    run, _ = sync.request_sync(acme)
    with caplog.at_level(logging.INFO, logger="dashboard.sync"):
        run_queued_tasks()  # the handed-back run is queued again, and this pass runs it too
    assert "sync of org-acme handed back after 1 pages" in caplog.text
    tasks = DBTaskResult.objects.filter(task_path="dashboard.sync.sync_task")
    assert [t.return_value for t in tasks.order_by("enqueued_at")] == ["queued", "ok"]
    run.refresh_from_db()
    assert (run.state, run.pages) == (SyncRun.State.OK, 2)
    assert AuditEvent.objects.filter(action="sync").count() == 1
    assert Session.objects.filter(org=acme).count() == len(fake.sessions("org-acme"))


def test_a_run_ended_by_recovery_meanwhile_is_not_recorded_twice(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sync.store_sessions

    def lease_runs_out(org: Any, items: Any, **kwargs: Any) -> Any:
        # As recovery does once the lease has run out (a worker paused for too long).
        SyncRun.objects.update(state=SyncRun.State.FAILED, error="ended", worker="")
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", lease_runs_out)
    run = sync.sync_org(acme)
    assert (run.state, run.error) == (SyncRun.State.FAILED, "ended")
    assert SyncRun.objects.get().error == "ended"
    assert not AuditEvent.objects.filter(action="sync").exists()  # recovery records its own


def test_the_lease_is_renewed_while_the_run_works(
    fake: Any, acme: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.RUN_LEASE_SECONDS = 0.4
    fake.latency = 0.3  # each page takes most of a lease
    store = sync.store_sessions
    leases: list[Any] = []

    def watch(org: Any, items: Any, **kwargs: Any) -> Any:
        leases.append(SyncRun.objects.get().lease_until)
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", watch)
    assert sync.sync_org(acme).state == SyncRun.State.OK
    assert len(leases) == 2 and leases[1] > leases[0]
