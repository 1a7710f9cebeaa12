"""Retention rules run by a real worker (`manage.py db_worker`) against the fake Devin API over
loopback HTTP: what a run archives, the cap, the protected sessions, a person's unarchive, and
the pause after three failing runs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from dashboard import actions, rules, sync
from dashboard.models import (
    AuditEvent,
    BulkItem,
    BulkRun,
    Organization,
    Rule,
    RulesSwitch,
    Session,
)
from tests.workers import Process, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = 86_400


@pytest.fixture
def running_worker(tmp_path: Path) -> Iterator[Process]:
    process = start_worker(tmp_path, "rules", DASHBOARD_ACTION_DEADLINE="3")
    yield process
    process.stop()


def seed(fake: Any, org: Organization) -> dict[str, str]:
    """Seven sessions a rule on tag "old" should archive, and three it must not."""
    old = int(time.time()) - 3 * DAYS
    ids: dict[str, str] = {}
    for i in range(7):
        s = fake.add_session(
            org.org_id,
            title=f"old {i}",
            status="exit",
            tags=["old"],
            updated_at=old,
            created_at=old,
        )
        ids[f"old{i}"] = s["session_id"]
    live = fake.add_session(
        org.org_id,
        title="live",
        status="running",
        status_detail="working",
        tags=["old"],
        updated_at=old,
        created_at=old,
    )
    kept = fake.add_session(
        org.org_id,
        title="kept",
        status="exit",
        tags=["old", "keep"],
        updated_at=old,
        created_at=old,
    )
    fresh = fake.add_session(org.org_id, title="fresh", status="exit", tags=["old"])
    other = fake.add_session(
        org.org_id, title="other", status="exit", tags=["new"], updated_at=old, created_at=old
    )
    ids.update(
        live=live["session_id"],
        kept=kept["session_id"],
        fresh=fresh["session_id"],
        other=other["session_id"],
    )
    assert sync.sync_org(org).state == "ok"
    return ids


def make_rule(org: Organization, **fields: Any) -> Rule:
    defaults: dict[str, Any] = {
        "name": "old stuff",
        "query": "tag=old",
        "min_age_days": 1,
        "exclude_tags": "|keep|",
        "cap": 3,
        "enabled": True,
    }
    return Rule.objects.create(org=org, **{**defaults, **fields})


def run_once(rule: Rule) -> BulkRun | None:
    """Queue the rule as the scheduler's pass does, and wait for its run to end."""
    before = AuditEvent.objects.filter(action="rule_run").count()
    Rule.objects.filter(pk=rule.pk).update(next_run_at=None)
    assert rules.enqueue_due() == 1
    wait_for(
        lambda: AuditEvent.objects.filter(action="rule_run").count() > before,
        60,
        "the run's summary",
    )
    return BulkRun.objects.filter(rule=rule).order_by("-pk").first()


def archive_calls(fake: Any) -> Counter[str]:
    return Counter(
        p.split("/")[-2] for m, p in fake.calls if m == "POST" and p.endswith("/archive")
    )


def archived(ids: dict[str, str]) -> set[str]:
    found = Session.objects.filter(session_id__in=ids.values(), is_archived=True)
    names = {v: k for k, v in ids.items()}
    return {names[s] for s in found.values_list("session_id", flat=True)}


def test_a_rule_archives_exactly_its_matches_a_capped_number_per_run(
    fake: Any, acme: Organization, operator: Any, running_worker: Process
) -> None:
    ids = seed(fake, acme)
    rule = make_rule(acme)
    count, first = rules.preview(rule)
    assert count == 7
    assert {s.title for s in first} == {f"old {i}" for i in range(7)}

    run = run_once(rule)
    assert run is not None
    assert Counter(run.items.values_list("outcome", flat=True)) == {"ok": 3}
    assert rules.preview(rule)[0] == 4
    run_once(rule)
    run_once(rule)
    assert archived(ids) == {f"old{i}" for i in range(7)}  # the preview's seven, no other
    last = run_once(rule)  # nothing left: a summary, no run
    assert last is not None and last.items.count() == 1

    rule.refresh_from_db()
    assert rule.archived_total == 7 and rule.failures == 0 and rule.last_run_at is not None
    events = AuditEvent.objects.filter(action="archive", actor_name="rule old stuff")
    assert events.count() == 7 and set(events.values_list("outcome", flat=True)) == {"ok"}
    summaries = list(
        AuditEvent.objects.filter(action="rule_run").order_by("pk").values_list("detail", flat=True)
    )
    assert [d.split(": ", 1)[1] for d in summaries[:3]] == [
        "3 archived, 0 not, of 3",
        "3 archived, 0 not, of 3",
        "1 archived, 0 not, of 1",
    ]
    assert summaries[3] == "0 archived, 0 not, of 0"

    # A person unarchives one: the rule never archives it again.
    session = Session.objects.select_related("org").get(session_id=ids["old0"])
    assert actions.perform(session, "unarchive", actor=operator).done
    assert rules.preview(rule)[0] == 0
    run_once(rule)
    assert not Session.objects.get(session_id=ids["old0"]).is_archived
    assert archive_calls(fake)[ids["old0"]] == 1
    assert not {"live", "kept", "fresh", "other"} & set(archive_calls(fake)) & set(ids.values())


def test_a_target_that_changed_since_the_run_started_is_skipped(
    tmp_path: Path, fake: Any, acme: Organization
) -> None:
    ids = seed(fake, acme)
    rule = make_rule(acme, cap=10)
    run = rules.start_run(rule)  # no worker yet: the targets are fixed, none archived
    assert run is not None and run.items.count() == 7
    # A sync saw two of them change: one is at work again, one was just updated.
    Session.objects.filter(session_id=ids["old1"]).update(status="running", status_detail="working")
    Session.objects.filter(session_id=ids["old2"]).update(updated_at=timezone.now())
    process = start_worker(tmp_path, "late")
    try:
        wait_for(lambda: BulkRun.objects.get(pk=run.pk).state == "done", 60, "the run to end")
    finally:
        process.stop()
    skipped = dict(
        run.items.filter(outcome=BulkItem.Outcome.SKIPPED).values_list(
            "session__session_id", "error"
        )
    )
    assert skipped == {
        ids["old1"]: "Skipped: the session is at work or waiting for a person.",
        ids["old2"]: "Skipped: the session changed in the last hour.",
    }
    assert archived(ids) == {"old0", "old3", "old4", "old5", "old6"}
    assert ids["old1"] not in archive_calls(fake) and ids["old2"] not in archive_calls(fake)


def test_a_pause_stops_a_run_under_way(tmp_path: Path, fake: Any, acme: Organization) -> None:
    ids = seed(fake, acme)
    rule = make_rule(acme, cap=10)
    run = rules.start_run(rule)
    assert run is not None
    RulesSwitch.objects.create(pk=1, paused=True)  # a site admin pauses every rule meanwhile
    process = start_worker(tmp_path, "paused")
    try:
        wait_for(lambda: BulkRun.objects.get(pk=run.pk).state == "done", 60, "the run to end")
    finally:
        process.stop()
    assert set(run.items.values_list("outcome", "error")) == {("skipped", rules.PAUSED)}
    assert archived(ids) == set() and archive_calls(fake) == Counter()


def test_three_failing_runs_in_a_row_pause_the_rule(
    fake: Any, acme: Organization, running_worker: Process
) -> None:
    ids = seed(fake, acme)
    rule = make_rule(acme)
    fake.inject("status", count=None, status=403, method="POST", path="/archive")
    for n in (1, 2):
        run_once(rule)
        rule.refresh_from_db()
        assert rule.failures == n and rule.enabled and not rule.paused_reason
    run_once(rule)
    rule.refresh_from_db()
    assert not rule.enabled
    assert rule.paused_reason.startswith("Paused after 3 failing runs in a row: ")
    assert AuditEvent.objects.filter(action="rule_paused").count() == 1
    assert rules.enqueue_due() == 0  # a paused rule is not queued
    assert archived(ids) == set()
