"""Insight's ACUs per day from what the dashboard saw, its creation-day fallback for history, and
the all-organizations view."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard import devin, sync
from dashboard.models import AcuDay, Membership, Organization, Session

pytestmark = pytest.mark.django_db

TODAY = timezone.now().astimezone(UTC).date()


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def store_on(
    monkeypatch: Any, org: Organization, day: date, item: devin.Session, **changes: Any
) -> devin.Session:
    """Store `item` with `changes` as a sync on `day` would (the store's clock set to it)."""
    changed = dataclasses.replace(item, **changes)
    monkeypatch.setattr(timezone, "now", lambda: noon(day))
    sync.store_sessions(org, [changed])
    monkeypatch.undo()
    return changed


def one_session(org: Organization) -> devin.Session:
    return org.client().list_page(devin.SessionQuery(first=1)).items[0]


def bars_by_day(client: Client, path: str) -> dict[date, Any]:
    response = client.get(path)
    assert response.status_code == 200
    return {bar["day"]: bar for bar in response.context["bars"]}


def test_the_first_sync_starts_watching_and_counts_no_history(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    [(day, acus)] = AcuDay.objects.filter(org=acme).values_list("day", "acus")
    # Sessions created before today are history (counted by creation day, not here); the fake's
    # newest may have been created today, after midnight UTC: those the dashboard saw grow.
    seen = [
        s.acus_consumed
        for s in Session.objects.filter(org=acme)
        if s.created_at.astimezone(UTC).date() >= TODAY
    ]
    assert day == TODAY and acus == pytest.approx(sum(seen))
    assert Session.objects.filter(org=acme).count() > len(seen)  # history was not counted


def test_acus_count_on_the_day_they_were_seen_to_grow(
    client: Client, fake: Any, acme: Any, viewer: Any, monkeypatch: Any
) -> None:
    AcuDay.objects.create(org=acme, day=TODAY - timedelta(days=10))  # watched since then
    created = noon(TODAY - timedelta(days=6))
    item = one_session(acme)
    item = store_on(
        monkeypatch, acme, TODAY - timedelta(days=5), item,
        created_at=created, updated_at=created + timedelta(days=1), acus_consumed=10.0,
    )  # fmt: skip
    item = store_on(
        monkeypatch, acme, TODAY - timedelta(days=2), item,
        updated_at=created + timedelta(days=4), acus_consumed=25.0,
    )  # fmt: skip
    # A total that went down (a correction on Devin's side) subtracts nothing.
    store_on(
        monkeypatch, acme, TODAY, item, updated_at=created + timedelta(days=5), acus_consumed=20.0
    )
    client.force_login(viewer)
    bars = bars_by_day(client, f"/insight/{acme.pk}/")
    assert bars[TODAY - timedelta(days=6)]["acus"] == 0  # created then, but seen later
    assert bars[TODAY - timedelta(days=6)]["sessions"] == 1
    assert bars[TODAY - timedelta(days=5)]["acus"] == pytest.approx(10.0)
    assert bars[TODAY - timedelta(days=2)]["acus"] == pytest.approx(15.0)
    assert bars[TODAY]["acus"] == 0
    assert not bars[TODAY - timedelta(days=10)]["estimated"]
    assert bars[TODAY - timedelta(days=11)]["estimated"]


def test_before_watching_a_sessions_acus_count_on_its_creation_day(
    client: Client, fake: Any, acme: Any, viewer: Any, monkeypatch: Any
) -> None:
    AcuDay.objects.create(org=acme, day=TODAY - timedelta(days=3))
    created = noon(TODAY - timedelta(days=20))
    item = store_on(
        monkeypatch, acme, TODAY - timedelta(days=3), one_session(acme),
        created_at=created, updated_at=noon(TODAY - timedelta(days=3)), acus_consumed=50.0,
    )  # fmt: skip
    store_on(monkeypatch, acme, TODAY, item, updated_at=noon(TODAY), acus_consumed=70.0)
    # Its whole total stays on its creation day: counted once, not again as it grows.
    assert AcuDay.objects.get(org=acme, day=TODAY - timedelta(days=3)).acus == 0
    assert not AcuDay.objects.filter(org=acme, day=TODAY).exists()
    client.force_login(viewer)
    bars = bars_by_day(client, f"/insight/{acme.pk}/")
    assert bars[TODAY - timedelta(days=20)]["acus"] == pytest.approx(70.0)
    assert bars[TODAY - timedelta(days=20)]["estimated"]
    assert bars[TODAY]["acus"] == 0
    page = client.get(f"/insight/{acme.pk}/").content.decode()
    assert "a session's ACUs count on the day it was created" in page


def test_all_organizations_sums_only_the_viewers_orgs(
    client: Client, fake: Any, acme: Any, globex: Any, viewer: Any
) -> None:
    initech = Organization.objects.create(name="Initech", org_id="org-initech", base_url=fake.url)
    for org in (acme, globex, initech):
        sync.sync_org(org) if org.has_token else None
    Membership.objects.create(user=viewer, org=globex)
    client.force_login(viewer)
    assert client.get("/insight/")["Location"] == "/insight/all/"
    response = client.get("/insight/all/?days=90")
    ctx = response.context
    assert ctx["org"] is None
    assert [o.name for o in ctx["orgs"]] == ["Acme", "Globex"]
    each = [client.get(f"/insight/{o.pk}/?days=90").context for o in (acme, globex)]
    assert ctx["total_sessions"] == sum(c["total_sessions"] for c in each) > 0
    assert ctx["total_acus"] == pytest.approx(sum(c["total_acus"] for c in each))
    page = response.content.decode()
    assert "Insight · All organizations" in page
    assert 'aria-current="page">All organizations</a>' in page
    assert "Initech" not in page
    # Its links to the sessions page keep to the viewer's orgs, not to one.
    assert 'href="/?status=' in page


def test_one_orgs_member_goes_straight_to_its_page(
    client: Client, acme: Any, globex: Any, outsider: Any
) -> None:
    client.force_login(outsider)
    assert client.get("/insight/")["Location"] == f"/insight/{globex.pk}/"
    page = client.get(f"/insight/{globex.pk}/").content.decode()
    assert "All organizations" not in page


def test_the_chart_has_a_y_axis_with_round_values(
    client: Client, fake: Any, acme: Any, viewer: Any
) -> None:
    sync.sync_org(acme)
    client.force_login(viewer)
    response = client.get(f"/insight/{acme.pk}/?days=90")
    ticks = [value for value, _ in response.context["ticks"]]
    peak = response.context["peak_acus"]
    assert ticks[0] == 0 and ticks[-1] >= peak > ticks[-2]
    assert 3 <= len(ticks) <= 6
    page = response.content.decode()
    assert page.count('class="grid"') == len(ticks) - 1
    assert '<div class="chart-y" aria-hidden="true"><span>' in page


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        (0, [0, 1]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (123, [0, 50, 100, 150]),
        (4100, [0, 1000, 2000, 3000, 4000, 5000]),
    ],
)
def test_ticks(peak: float, expected: list[float]) -> None:
    from dashboard.insight import ticks

    assert ticks(peak) == pytest.approx(expected)
