from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.models import Session

pytestmark = pytest.mark.django_db


def make(
    org: Any,
    n: int,
    *,
    days_ago: float,
    acus: float,
    status: str = "running",
    category: str = "",
    prs: tuple[str | None, ...] = (),
) -> Session:
    when = timezone.now() - timedelta(days=days_ago)
    states = [s or "unknown" for s in prs]
    return Session.objects.create(
        org=org,
        session_id=f"devin-{org.org_id}-{n}",
        title=f"Session {n}",
        status=status,
        category=category,
        acus_consumed=acus,
        pull_requests=[
            {"pr_url": f"https://github.com/x/y/pull/{i}", "pr_state": s} for i, s in enumerate(prs)
        ],
        pr_states="|" + "|".join(dict.fromkeys(states)) + "|" if states else "",
        created_at=when,
        updated_at=when,
    )


@pytest.fixture
def seeded(acme: Any, globex: Any) -> Any:
    make(acme, 1, days_ago=0, acus=2.5, category="bug_fixing", prs=("open", "merged"))
    make(acme, 2, days_ago=0, acus=1.5, status="exit", category="bug_fixing", prs=("merged",))
    make(acme, 3, days_ago=3, acus=10.0, category="security", prs=("closed", None))
    make(acme, 4, days_ago=45, acus=100.0, status="error")  # only in the 90-day window
    make(globex, 5, days_ago=0, acus=999.0)  # another org: never counted for acme
    return acme


def test_aggregates_match_a_hand_computation(client: Client, seeded: Any, viewer: Any) -> None:
    client.force_login(viewer)
    response = client.get(f"/insight/{seeded.pk}/")
    assert response.status_code == 200
    ctx = response.context
    assert ctx["total_sessions"] == 3
    assert ctx["total_acus"] == pytest.approx(14.0)
    today = ctx["bars"][-1]
    assert (today["acus"], today["sessions"]) == (pytest.approx(4.0), 2)
    assert ctx["bars"][-4]["acus"] == pytest.approx(10.0)
    assert len(ctx["bars"]) == 30
    assert {r["status"]: r["n"] for r in ctx["by_status"]} == {"running": 2, "exit": 1}
    assert {r["category"]: (r["n"], r["acus"]) for r in ctx["by_category"]} == {
        "bug_fixing": (2, pytest.approx(4.0)),
        "security": (1, pytest.approx(10.0)),
    }
    assert dict(ctx["pr_counts"]) == {
        "open": 1,
        "draft": 0,
        "merged": 2,
        "closed": 1,
        "unknown": 1,
        "none": 0,
    }
    assert [s.session_id for s in ctx["top"]] == [
        "devin-org-acme-3",
        "devin-org-acme-1",
        "devin-org-acme-2",
    ]
    html = response.content.decode()
    assert "999" not in html
    assert f'href="/?org={seeded.pk}&amp;q=devin-org-acme-3&amp;archived=all"' in html


def test_ninety_day_window(client: Client, seeded: Any, viewer: Any) -> None:
    client.force_login(viewer)
    ctx = client.get(f"/insight/{seeded.pk}/?days=90").context
    assert ctx["total_sessions"] == 4
    assert ctx["total_acus"] == pytest.approx(114.0)
    assert len(ctx["bars"]) == 90


def test_chart_is_inline_svg_with_a_text_alternative(
    client: Client, seeded: Any, viewer: Any
) -> None:
    client.force_login(viewer)
    html = client.get(f"/insight/{seeded.pk}/").content.decode()
    assert '<svg class="chart"' in html and 'role="img"' in html
    assert len(re.findall(r'<rect [^>]*class="bar[ "]', html)) == 30
    assert "<script" not in html.split("<main")[1]
    assert "style=" not in html
    assert "Show as a table" in html


def test_insight_needs_membership(client: Client, seeded: Any, outsider: Any) -> None:
    client.force_login(outsider)
    assert client.get(f"/insight/{seeded.pk}/").status_code == 404
    assert client.get("/insight/").status_code == 302


def test_query_count_does_not_grow_with_sessions(
    client: Client, seeded: Any, viewer: Any, django_assert_max_num_queries: Any
) -> None:
    client.force_login(viewer)
    client.get(f"/insight/{seeded.pk}/")
    for n in range(10, 60):
        make(seeded, n, days_ago=n % 30, acus=1.0)
    with django_assert_max_num_queries(14):
        client.get(f"/insight/{seeded.pk}/")


def test_migration_fills_the_day_of_sessions_synced_before_it(acme: Any) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("dashboard.migrations.0005_session_created_day")
    when = timezone.now() - timedelta(days=2)
    Session.objects.bulk_create(  # bulk_create skips save(): created_day stays empty, as before
        [Session(org=acme, session_id="devin-old", status="exit", created_at=when, updated_at=when)]
    )
    assert Session.objects.get(session_id="devin-old").created_day is None
    migration.fill_created_day(apps, None)
    assert Session.objects.get(session_id="devin-old").created_day == when.date()
