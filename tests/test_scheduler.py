"""The scheduler (`sync_sessions --loop`): each pass recovers, then queues one sync per due org
for the workers; it never syncs itself. Unit level: one pass at a time. The loop as a real
process is in test_background_processes.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

from dashboard import recovery, sync
from dashboard.management.commands import sync_sessions
from dashboard.models import Organization, SyncRun
from tests.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 60.0


def one_pass(interval: float = INTERVAL) -> int:
    return sync_sessions.scheduler_pass(Organization.objects.exclude(token_ciphertext=""), interval)


def test_a_pass_queues_one_sync_per_org_and_syncs_nothing_itself(
    fake: Any, acme: Any, globex: Any
) -> None:
    Organization.objects.create(name="No token yet", org_id="org-empty", base_url=fake.url)
    fake.reset_stats()
    assert one_pass() == 2
    assert fake.calls == []  # the workers sync, not the scheduler
    assert set(SyncRun.objects.values_list("org__org_id", "state")) == {
        ("org-acme", "queued"),
        ("org-globex", "queued"),
    }
    assert one_pass() == 0  # already queued: the claim says no
    run_queued_tasks()
    assert one_pass() == 0  # synced just now: not due for an interval
    assert SyncRun.objects.filter(state="ok").count() == 2


def test_an_org_is_due_an_interval_after_its_last_sync_ended(fake: Any, acme: Any) -> None:
    run = sync.sync_org(acme)
    assert not sync_sessions.is_due(acme, INTERVAL)
    SyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(seconds=61))
    assert sync_sessions.is_due(acme, INTERVAL)


def test_failures_in_a_row_back_off(fake: Any, acme: Any) -> None:
    fake.inject("status", count=None, status=500)
    for _ in range(3):
        sync.sync_org(acme)
    ended = timezone.now() - timedelta(seconds=7 * INTERVAL)  # 2**3 = 8 intervals to wait
    SyncRun.objects.update(finished_at=ended)
    assert not sync_sessions.is_due(acme, INTERVAL)
    SyncRun.objects.update(finished_at=ended - timedelta(seconds=INTERVAL))
    assert sync_sessions.is_due(acme, INTERVAL)


def test_one_orgs_trouble_never_stops_the_pass(
    fake: Any,
    acme: Any,
    globex: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = sync.request_sync

    def odd(org: Organization, **kwargs: Any) -> Any:
        if org.org_id == "org-acme":
            raise ValueError("odd org")
        return request(org, **kwargs)

    def broken() -> int:
        raise RuntimeError("recovery broke")

    monkeypatch.setattr(sync, "request_sync", odd)
    monkeypatch.setattr(recovery, "recover", broken)
    with caplog.at_level(logging.ERROR, logger="dashboard.scheduler"):
        assert one_pass() == 1
    assert SyncRun.objects.get().org == globex
    messages = {r.getMessage(): r.exc_text or "" for r in caplog.records}
    assert "recovery broke" in messages["recovery failed"]
    assert "odd org" in messages["could not queue a sync of org-acme"]


def test_a_database_away_fails_the_pass_not_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    class Away:
        def __iter__(self) -> Any:
            raise OperationalError("could not connect to server")

    with caplog.at_level(logging.ERROR, logger="dashboard.scheduler"):
        assert sync_sessions.scheduler_pass(Away(), INTERVAL) == 0  # type: ignore[arg-type]
    assert "could not list the organizations" in caplog.text


def test_each_pass_recovers_first(fake: Any, acme: Any) -> None:
    until = timezone.now() - timedelta(seconds=1)
    dead = SyncRun.objects.create(org=acme, worker="gone:1", lease_until=until)
    one_pass()
    assert SyncRun.objects.get(pk=dead.pk).error == recovery.STOPPED
    assert SyncRun.objects.get(state=SyncRun.State.QUEUED)  # recovery's, not a second one
