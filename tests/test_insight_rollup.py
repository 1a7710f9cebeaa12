"""The insight page's rollup (dashboard.insightdays) gives what the sessions themselves give: the
same days, counts and ACUs as a direct count of the stored sessions, through every way sessions
are written (new, changed, archived and unarchived, marked after an action, saved by hand) and
when an org is deleted."""

from __future__ import annotations

import dataclasses
import io
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.utils import timezone

from dashboard import answers, devin, insight, sync
from dashboard.models import AcuDay, InsightDay, Organization, Session
from dashboard.vocabulary import PR_STATES

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TODAY = NOW.astimezone(UTC).date()
STATUSES = ["running", "blocked", "exit", "suspended", "error", "new-to-us"]
CATEGORIES = ["", "bug", "feature", "docs", "ops"]
PRS: list[tuple[str | None, ...]] = [(), (), ("open",), ("merged",), ("open", "merged"), (None,)]


def org(name: str) -> Organization:
    return Organization.objects.create(name=name, org_id=f"org-{name}", base_url="https://x.test")


def item(rng: random.Random, n: int, *, updated: datetime = NOW, **changes: Any) -> devin.Session:
    created = NOW - timedelta(days=rng.uniform(0, 120))
    fields: dict[str, Any] = {
        "session_id": f"devin-{n}",
        "url": f"https://app.devin.ai/sessions/{n}",
        "status": rng.choice(STATUSES),
        "tags": (),
        "org_id": "x",
        "created_at": created,
        "updated_at": updated,
        "acus_consumed": round(rng.uniform(0, 30), 2),
        "pull_requests": tuple(
            devin.PullRequest(pr_url=f"https://github.com/x/y/pull/{i}", pr_state=state)
            for i, state in enumerate(rng.choice(PRS))
        ),
        "category": rng.choice(CATEGORIES) or None,
    }
    return devin.Session(**(fields | changes))


def direct(orgs: Sequence[Organization], first_day: date) -> dict[str, Any]:
    """What the page showed before the rollup: counted from every session of the window."""
    watched = {
        o.pk: AcuDay.objects.filter(org=o).order_by("day").values_list("day", flat=True).first()
        for o in orgs
    }
    sessions: Counter[date] = Counter()
    created: dict[date, float] = defaultdict(float)
    statuses: Counter[str] = Counter()
    categories: dict[str, list[Any]] = {}
    prs: Counter[str] = Counter()
    for s in Session.objects.filter(org__in=orgs, created_day__gte=first_day):
        assert s.created_day is not None
        sessions[s.created_day] += 1
        start = watched[s.org_id]
        if start is None or s.created_day < start:
            created[s.created_day] += s.acus_consumed
        statuses[s.status] += 1
        category = categories.setdefault(s.category, [0, 0.0])
        category[0] += 1
        category[1] += s.acus_consumed
        for state in PR_STATES:
            prs[state] += f"|{state}|" in s.pr_states
        prs["none"] += s.pr_states == ""
    return {
        "sessions": dict(sessions),
        "created": {day: acus for day, acus in created.items() if acus > 1e-9},
        "by_status": dict(statuses),
        "by_category": categories,
        "pr_counts": dict(prs),
    }


def from_page(orgs: Sequence[Organization], first_day: date) -> dict[str, Any]:
    """The same figures as the insight module computes them now (from the rollup)."""
    days = (TODAY - first_day).days + 1
    per_day = insight.per_day(orgs, first_day, days)
    seen: dict[date, float] = defaultdict(float)
    for day, acus in AcuDay.objects.filter(org__in=orgs).values_list("day", "acus"):
        seen[day] += acus
    parts = insight.breakdown(orgs, first_day)
    return {
        "sessions": {d["day"]: d["sessions"] for d in per_day if d["sessions"]},
        "created": {
            d["day"]: d["acus"] - seen[d["day"]]
            for d in per_day
            if d["acus"] - seen[d["day"]] > 1e-9
        },
        "by_status": {row["status"]: row["n"] for row in parts["by_status"]},
        "by_category": {c["category"]: [c["n"], c["acus"]] for c in parts["by_category"]},
        "pr_counts": dict(parts["pr_counts"]),
    }


def assert_same(orgs: Sequence[Organization]) -> None:
    for days in (30, 90):
        first_day = TODAY - timedelta(days=days - 1)
        expected, got = direct(orgs, first_day), from_page(orgs, first_day)
        assert got["sessions"] == expected["sessions"]
        assert got["by_status"] == expected["by_status"]
        assert got["pr_counts"] == expected["pr_counts"]
        assert got["created"].keys() == expected["created"].keys()
        for day, acus in expected["created"].items():
            assert got["created"][day] == pytest.approx(acus)
        assert got["by_category"].keys() == expected["by_category"].keys()
        for category, (n, acus) in expected["by_category"].items():
            assert got["by_category"][category][0] == n
            assert got["by_category"][category][1] == pytest.approx(acus)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_rollup_matches_a_direct_count_through_every_write(seed: int) -> None:
    rng = random.Random(seed)
    acme, globex, initech = org("acme"), org("globex"), org("initech")
    stored: dict[tuple[int, int], devin.Session] = {}
    n = 0
    for each in (acme, globex, initech):
        batch = [item(rng, n + i) for i in range(150)]
        n += 150
        sync.store_sessions(each, batch)
        stored |= {(each.pk, int(s.session_id[6:])): s for s in batch}
    AcuDay.objects.filter(org=globex).update(day=TODAY - timedelta(days=40))  # watched since
    assert_same([acme])
    assert_same([acme, globex, initech])

    for step in range(1, 4):
        later = NOW + timedelta(minutes=step)
        by_org: dict[int, list[devin.Session]] = defaultdict(list)
        for (org_pk, _), s in rng.sample(sorted(stored.items()), 120):
            change = rng.choice(["status", "category", "prs", "acus", "archive", "unarchive"])
            if change == "status":
                s = dataclasses.replace(s, status=rng.choice(STATUSES), updated_at=later)
            elif change == "category":
                s = dataclasses.replace(s, category=rng.choice(CATEGORIES) or None)
            elif change == "prs":
                s = dataclasses.replace(s, pull_requests=item(rng, 0).pull_requests)
            elif change == "acus":
                s = dataclasses.replace(s, acus_consumed=s.acus_consumed + rng.uniform(0, 5))
            else:  # an action's answer: no category, which the store keeps
                s = dataclasses.replace(
                    s, is_archived=change == "archive", category=None, updated_at=later
                )
                sync.store_sessions(Organization.objects.get(pk=org_pk), [s], from_action=True)
                continue
            by_org[org_pk].append(dataclasses.replace(s, updated_at=later))
        for org_pk, items in by_org.items():
            sync.store_sessions(Organization.objects.get(pk=org_pk), items)
        # New sessions among the changes, one at a time as a track stores them.
        sync.store_sessions(acme, [item(rng, 10_000 + step)])
        assert_same([acme])
        assert_same([globex])
        assert_same([acme, globex, initech])

    # An action accepted without a usable answer, and no time left to re-read: marked terminated.
    marked = Session.objects.filter(org=acme).exclude(status="exit").first()
    assert marked is not None
    answers.reread_accepted(None, marked, "terminate", deadline=0)  # type: ignore[arg-type]
    assert Session.objects.get(pk=marked.pk).status == "exit"
    assert_same([acme])

    globex.delete()
    assert not InsightDay.objects.filter(org_id=globex.pk).exists()
    assert_same([acme, initech])


def test_a_count_that_reaches_nothing_leaves_no_row() -> None:
    rng = random.Random(3)
    acme = org("acme")
    first = item(rng, 1, status="running", category="bug", created_at=NOW, pull_requests=())
    sync.store_sessions(acme, [first])
    moved = dataclasses.replace(first, status="exit", updated_at=NOW + timedelta(seconds=1))
    sync.store_sessions(acme, [moved])
    rows = set(InsightDay.objects.filter(org=acme).values_list("kind", "value", "n"))
    assert rows == {("status", "exit", 1), ("category", "bug", 1), ("pr", "", 1)}


def test_a_session_saved_by_hand_is_counted() -> None:
    acme = org("acme")
    when = NOW - timedelta(days=2)
    session = Session.objects.create(
        org=acme,
        session_id="devin-a",
        status="running",
        acus_consumed=2.5,
        created_at=when,
        updated_at=when,
        pr_states="|open|",
    )
    assert_same([acme])
    session.status = "exit"
    session.save()
    assert_same([acme])
    assert InsightDay.objects.get(org=acme, kind="status").value == "exit"


def test_the_command_rebuilds_a_rollup_from_the_sessions() -> None:
    rng = random.Random(4)
    acme, globex = org("acme"), org("globex")
    sync.store_sessions(acme, [item(rng, i) for i in range(60)])
    sync.store_sessions(globex, [item(rng, i) for i in range(60)])
    expected = set(InsightDay.objects.values_list("org", "day", "kind", "value", "n"))
    InsightDay.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_insight", f"--org={acme.pk}", stdout=out)
    assert "acme" in out.getvalue()
    assert set(InsightDay.objects.values_list("org", flat=True)) == {acme.pk}
    call_command("rebuild_insight", stdout=out)
    assert set(InsightDay.objects.values_list("org", "day", "kind", "value", "n")) == expected
    assert_same([acme, globex])


@pytest.mark.parametrize("old_costly", [0, 3, 60])
def test_the_costliest_are_the_windows_whatever_came_before(old_costly: int) -> None:
    rng = random.Random(5)
    acme = org("acme")
    old = [
        item(rng, i, acus_consumed=100.0 + i, created_at=NOW - timedelta(days=200))
        for i in range(old_costly)
    ]
    recent = [item(rng, 1000 + i, created_at=NOW - timedelta(days=i % 20)) for i in range(40)]
    sync.store_sessions(acme, old + recent)
    first_day = TODAY - timedelta(days=29)
    top = insight.breakdown([acme], first_day)["top"]
    window = Session.objects.filter(org=acme, created_day__gte=first_day)
    expected = sorted(window.values_list("acus_consumed", flat=True), reverse=True)[:10]
    assert [s.acus_consumed for s in top] == expected


def test_sessions_deleted_in_the_admin_leave_the_rollup() -> None:
    from django.contrib import admin

    rng = random.Random(6)
    acme = org("acme")
    sync.store_sessions(acme, [item(rng, i) for i in range(80)])
    session_admin = admin.site._registry[Session]
    gone = Session.objects.filter(org=acme).order_by("pk")
    first_30 = list(gone.values_list("pk", flat=True)[:30])
    request = HttpRequest()
    session_admin.delete_queryset(request, gone.filter(pk__in=first_30))
    session_admin.delete_model(request, gone.first())
    assert Session.objects.filter(org=acme).count() == 49
    assert_same([acme])
