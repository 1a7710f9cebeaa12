"""The sessions page's views (needs attention first), the "started by" filter, view-only orgs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard import filters
from dashboard.models import Organization, Session

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def make(org: Organization, n: int, **fields: Any) -> Session:
    values: dict[str, Any] = {
        "session_id": f"devin-{org.org_id}-{n:04d}",
        "title": f"Session {n}",
        "status": "running",
        "status_detail": "working",
        "created_at": NOW - timedelta(minutes=n),
        "updated_at": NOW - timedelta(minutes=n),
        **fields,
    }
    return Session.objects.create(org=org, **values)


@pytest.fixture
def mix(acme: Organization) -> dict[str, Session]:
    """One session of each kind, newest first."""
    return {
        "waiting": make(acme, 1, status_detail="waiting_for_user", user_id="ada"),
        "approval": make(acme, 2, status_detail="waiting_for_approval"),
        "error": make(acme, 3, status="error", status_detail="error"),
        "done_open": make(acme, 4, status_detail="finished", pr_states="|open|"),
        "done_merged": make(acme, 5, status_detail="finished", pr_states="|merged|"),
        "working": make(acme, 6, user_id="ada"),
        "asleep": make(acme, 7, status="suspended", status_detail="inactivity"),
        "exited": make(acme, 8, status="exit", status_detail=""),
        "archived": make(acme, 9, status="exit", status_detail="", is_archived=True),
    }


def shown(client: Client, query: str = "") -> list[str]:
    html = client.get(f"/?{query}").content.decode()
    return re.findall(r'<tr id="session-\d+"[^>]*>.*?class="s-title"[^>]*>([^<]*)<', html, re.S)


def titles(mix: dict[str, Session], *names: str) -> list[str]:
    return [mix[name].title for name in names]


def test_each_view_lists_its_sessions(client: Client, mix: Any, operator: Any) -> None:
    client.force_login(operator)
    attention = titles(mix, "waiting", "approval", "error", "done_open")
    assert shown(client, "view=attention") == attention
    assert shown(client, "view=running") == titles(
        mix, "waiting", "approval", "done_open", "done_merged", "working"
    )
    assert shown(client, "view=finished") == titles(mix, "asleep", "exited")
    assert shown(client, "view=archived") == titles(mix, "archived")
    assert len(shown(client, "view=all")) == 8
    # A bare visit opens the first view with sessions in it: what needs a human.
    assert shown(client) == attention
    # Views combine with filters, and a filter without a view means every view.
    assert shown(client, "view=running&user=ada") == titles(mix, "waiting", "working")
    assert shown(client, "user=ada") == titles(mix, "waiting", "working")
    assert shown(client, "view=attention&status=error") == titles(mix, "error")


def test_the_default_view_is_the_first_that_is_not_empty(
    client: Client, acme: Organization, operator: Any
) -> None:
    make(acme, 1, status="exit", status_detail="")
    client.force_login(operator)
    html = client.get("/").content.decode()
    assert re.search(r'aria-current="page">Finished <span class="counter">1<', html)
    assert 'href="?view=attention"' in html and "Needs attention <span" in html
    assert re.search(r'>Needs attention <span class="counter">0<', html)
    # The chips are the Finished view's, counted in it (not the empty first view's).
    assert re.search(r'value="exit" >[^<]*<span id="chip-count-\d+" class="chip-count">1<', html)


def test_views_show_counts_and_links_keep_the_view(
    client: Client, mix: Any, operator: Any, settings: Any
) -> None:
    settings.SESSIONS_PER_PAGE = 2
    client.force_login(operator)
    html = client.get("/?view=running").content.decode()
    for label, count in [
        ("Needs attention", 4),
        ("Running", 5),
        ("Finished", 2),
        ("All", 8),
        ("Archived", 1),
    ]:
        assert re.search(rf'>{label} <span class="counter">{count}<', html), label
    # The status chips count within the view; paging keeps it.
    assert re.search(
        r'value="running"\s*>Running<span id="chip-count-\d+" class="chip-count">5<', html
    )
    nxt = re.search(r'href="\?([^"]*)"[^>]*>Next page', html)
    assert nxt and "view=running" in nxt.group(1)
    assert 'name="view" value="running"' in html  # the filter form keeps it too


@pytest.mark.parametrize("view", ["nope", "<script>", "attention\x01", "ALL", "a" * 5000])
def test_an_unknown_view_is_the_default(client: Client, mix: Any, operator: Any, view: str) -> None:
    client.force_login(operator)
    response = client.get("/", {"view": view})
    assert response.status_code == 200
    assert shown(client, f"view={view[:50]}") == shown(client)


def test_the_nav_counter_counts_what_needs_a_human(client: Client, mix: Any, operator: Any) -> None:
    client.force_login(operator)
    for page in ("/", "/?view=finished", "/insight/"):
        html = client.get(page, follow=True).content.decode()
        assert re.search(r'id="attention-count"[^>]*>4<', html), page


def test_the_user_filter_matches_the_stored_value(
    client: Client, acme: Organization, operator: Any
) -> None:
    long = "u" * 5000
    make(acme, 1, user_id=long[:199] + "…")
    make(acme, 2, user_id="bob")
    client.force_login(operator)
    assert shown(client, "user=bob") == ["Session 2"]
    assert shown(client, f"user={long[:199]}…") == ["Session 1"]
    # The row says who started it, with a title for a long id.
    html = client.get("/?view=all").content.decode()
    assert 'title="Started by bob">by bob<' in html


def test_filters_say_not_archived_not_active(client: Client, mix: Any, operator: Any) -> None:
    client.force_login(operator)
    html = client.get("/?view=all").content.decode()
    assert '<option value="active" selected>Not archived</option>' in html
    assert ">Active<" not in html


def test_pr_badges_name_the_pull_request(client: Client, acme: Organization, operator: Any) -> None:
    prs = [
        {"pr_url": "https://github.com/acme/billing/pull/12", "pr_state": "open"},
        {"pr_url": "ftp://example.com/x/pulls/9", "pr_state": "merged"},
    ]
    make(acme, 1, pull_requests=prs, pr_states="|open|merged|")
    client.force_login(operator)
    html = client.get("/?view=all").content.decode()
    link = '<a class="badge badge-ok pr" href="https://github.com/acme/billing/pull/12"'
    assert link in html and ">billing#12 · Open</a>" in html
    # Not http(s): the ref as text, never a link.
    assert (
        '<span class="badge badge-merged pr" title="ftp://example.com/x/pulls/9">x#9 · Merged<'
        in html
    )


def test_rows_of_a_view_only_org_offer_no_archive(
    client: Client, mix: Any, acme: Organization, operator: Any
) -> None:
    client.force_login(operator)
    assert 'name="ids"' in client.get("/?view=all").content.decode()
    Organization.objects.filter(pk=acme.pk).update(can_manage=False)
    html = client.get("/?view=all").content.decode()
    assert 'name="ids"' not in html
    assert "/archive/" not in html and "/terminate/" not in html
    assert html.count('title="This org&#x27;s token may only view sessions') >= 16  # box, button
    assert f'action="/orgs/{acme.pk}/sync/"' in html  # syncing only reads: still offered
    # The row a dismiss fetches says the same.
    row = client.get(f"/sessions/{mix['working'].pk}/row/").content.decode()
    assert "View only" in row and "/archive/" not in row


def test_bulk_selection_skips_view_only_orgs_and_says_so(
    client: Client, mix: Any, acme: Organization, globex: Organization, operator: Any
) -> None:
    from dashboard.models import BulkItem, Membership

    Membership.objects.create(user=operator, org=globex, role="operator")
    theirs = make(globex, 1)
    Organization.objects.filter(pk=acme.pk).update(can_manage=False)
    client.force_login(operator)
    ids = [mix["working"].pk, mix["waiting"].pk, theirs.pk]
    response = client.post(
        "/sessions/bulk-archive/", {"scope": "selected", "ids": ids}, follow=True
    )
    html = response.content.decode()
    assert "Skipped 2 sessions of view-only orgs" in html
    assert set(BulkItem.objects.values_list("session_id", flat=True)) == {theirs.pk}


def test_counts_read_at_most_the_cap(acme: Organization) -> None:
    for n in range(5):
        make(acme, n, status="error")
    counts, chips = filters.view_counts(
        Session.objects.all(), Session.objects.filter(is_archived=False), ["error", "new"]
    )
    assert counts["attention"] == 5 and chips == {"error": 5, "new": 0}
    assert filters.counts_upto({"x": Session.objects.all()}, 2) == {"x": 3}
    assert filters.count_label(3, 2) == "2+"
