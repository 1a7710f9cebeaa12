"""The sessions page as a triage screen, in Chromium at a laptop's, a small laptop's and a phone's
size: how many rows show, that nothing needs a horizontal scroll (the actions and an in-row error
always in view, hostile 10 kB strings included), the views and their counts, view-only rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from dashboard import sync
from dashboard.models import Membership, Organization, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
LAPTOP: ViewportSize = {"width": 1024, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
SIZES = [DESKTOP, LAPTOP, PHONE]
SIZE_IDS = ["1280x800", "1024x768", "390x844"]

# What a layout check reads from the page: the table's widths, and each row's box, actions and
# error against the viewport.
LAYOUT = """() => {
  const wrap = document.querySelector('#results .table-wrap');
  const rows = [...document.querySelectorAll('#results tbody tr')];
  const box = (el) => el && el.getBoundingClientRect();
  return {
    scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth,
    // What sticks out, to say why when a check fails.
    wide: [...wrap.querySelectorAll('*')]
      .filter((e) => e.getBoundingClientRect().right > wrap.getBoundingClientRect().right + 1)
      .slice(0, 5).map((e) => e.tagName + '.' + e.className),
    pageWidth: document.documentElement.scrollWidth, innerWidth: innerWidth,
    innerHeight: innerHeight,
    rows: rows.map((row) => {
      const actions = box(row.querySelector('.c-actions'));
      const error = box(row.querySelector('.row-error'));
      return {
        top: box(row).top, bottom: box(row).bottom, height: box(row).height,
        actionsLeft: actions.left, actionsRight: actions.right,
        buttonsRight: Math.max(0, ...[...row.querySelectorAll('.c-actions .button')]
          .map((b) => b.getBoundingClientRect().right)),
        errorRight: error ? error.right : 0, errorWidth: error ? error.width : 0,
      };
    }),
  };
}"""


@pytest.fixture
def demo(live_server: Any, operator: Any) -> Iterator[Any]:
    """The demo's data: its fake (seed 42, 120 sessions in each of three orgs), synced, with
    Initech's token known to be view-only (as after its first refused archive)."""
    from fakedevin import FakeDevin

    with FakeDevin(seed=42, sessions_per_org=120) as fake:
        fake.start()
        Organization.objects.all().delete()
        for org_id, name in fake.org_names.items():
            org = Organization(name=name, org_id=org_id, base_url=fake.url)
            org.set_token(fake.tokens[org_id]["manage"])
            org.save()
            Membership.objects.create(user=operator, org=org, role="operator")
            assert sync.sync_org(org).state == "ok"
        Organization.objects.filter(org_id="org-initech").update(can_manage=False)
        yield fake


def check_layout(page: Page) -> dict[str, Any]:
    layout: dict[str, Any] = page.evaluate(LAYOUT)
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["pageWidth"] <= layout["innerWidth"], "the page scrolls sideways"
    for row in layout["rows"]:
        assert row["actionsLeft"] >= 0 and row["actionsRight"] <= layout["innerWidth"], row
        assert row["buttonsRight"] <= layout["innerWidth"], row
        assert row["errorRight"] <= layout["innerWidth"], row
    return layout


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_the_demo_fits_and_shows_many_rows(
    page: Page, live_server: Any, login_as: Any, operator: Any, demo: Any, size: ViewportSize
) -> None:
    page.set_viewport_size(size)
    login_as(page, operator)
    page.goto(live_server.url + "/")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    for view in ("", "?view=all", "?view=finished"):
        page.goto(live_server.url + "/" + view)
        layout = check_layout(page)
        rows = layout["rows"]
        visible = [r for r in rows if r["bottom"] <= layout["innerHeight"]]
        if size is DESKTOP:
            assert len(visible) >= 12, (view, len(visible))
        if size is PHONE:
            # A card of at most three lines.
            assert max(r["height"] for r in rows) <= 120, view


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_hostile_long_strings_stay_in_their_cells(
    page: Page,
    live_server: Any,
    login_as: Any,
    operator: Any,
    acme: Organization,
    fake: Any,
    size: ViewportSize,
) -> None:
    Organization.objects.filter(pk=acme.pk).update(name="A" * 100)
    fake.add_session("org-acme", status="error", user_id="u" * 10_000, tags=["t" * 2_000])
    fake.inject("hostile", count=None, method="GET", path="/sessions")
    acme.refresh_from_db()
    assert sync.sync_org(acme).state == "ok"
    fake.clear_faults()
    long = Session.objects.filter(title__contains="A" * 1000).first()
    assert long is not None
    # Every archive fails, with Devin's long words, so each row can show an error.
    fake.inject("status", count=None, status=429, method="POST", path="/archive")
    page.set_viewport_size(size)
    login_as(page, operator)
    page.goto(live_server.url + "/?view=all")
    check_layout(page)
    row = page.locator(f"#session-{long.pk}")
    title = row.locator(".s-title")
    expect(title).to_have_attribute("title", re.compile("A{10000}"))  # the whole of it on hover
    row.get_by_role("button", name="Archive").click()
    expect(row.get_by_role("alert")).to_contain_text("(429)")
    layout = check_layout(page)
    errors = [r for r in layout["rows"] if r["errorWidth"]]
    assert errors and all(r["errorRight"] <= layout["innerWidth"] for r in errors)
    expect(row.get_by_role("button", name="Retry Archive")).to_be_in_viewport()


def test_views_lead_with_what_needs_a_human(
    page: Page, live_server: Any, login_as: Any, operator: Any, demo: Any
) -> None:
    page.set_viewport_size(DESKTOP)
    login_as(page, operator)
    page.goto(live_server.url + "/")
    views = page.get_by_role("navigation", name="Views")
    tabs = views.get_by_role("link")
    expect(tabs).to_have_text(
        [re.compile(rf"^{name} \d+") for name in ("Needs attention", "Running", "Finished")]
        + [re.compile(r"^All \d+"), re.compile(r"^Archived \d+")]
    )
    current = views.locator('[aria-current="page"]')
    expect(current).to_contain_text("Needs attention")
    # Each view's count is what the view lists (the demo's are under a page, so all show).
    for name in ("Needs attention", "Finished", "Archived"):
        views.get_by_role("link", name=re.compile(f"^{name}")).click()
        expect(current).to_contain_text(name)
        count = int(current.locator(".counter").inner_text())
        expect(page.locator("#results .results-head strong")).to_have_text(str(count))
    # The nav counter is the needs-attention count.
    page.goto(live_server.url + "/?view=finished")
    attention = views.get_by_role("link", name=re.compile("^Needs attention"))
    expect(page.locator("#attention-count")).to_contain_text(
        attention.locator(".counter").inner_text()
    )
    # Every row of Needs attention wears the attention or the error colour, and no other row.
    page.goto(live_server.url + "/?view=attention")
    badges = page.locator("#results tbody .c-status .badge:not(.archived-marker)")
    expect(badges.first).to_be_visible()
    classes = badges.evaluate_all("els => els.map((e) => e.className)")
    assert all(("badge-warn" in c and "attn" in c) or "badge-bad" in c for c in classes)
    page.goto(live_server.url + "/?view=finished")
    classes = badges.evaluate_all("els => els.map((e) => e.className)")
    assert classes and not any("badge-warn" in c for c in classes)
    # The legend is one click away.
    page.get_by_text("What the colours mean").click()
    expect(page.get_by_text("waiting for an answer or approval")).to_be_visible()


def test_view_only_rows_offer_nothing_that_would_fail(
    page: Page, live_server: Any, login_as: Any, operator: Any, demo: Any
) -> None:
    page.set_viewport_size(DESKTOP)
    login_as(page, operator)
    initech = Session.objects.filter(org__org_id="org-initech", is_archived=False).first()
    acme = Session.objects.filter(org__org_id="org-acme", is_archived=False).first()
    assert initech is not None and acme is not None
    page.goto(f"{live_server.url}/?view=all&q={initech.session_id}")
    row = page.locator(f"#session-{initech.pk}")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(row.get_by_role("checkbox")).to_have_count(0)
    reason = row.get_by_text("View only")
    expect(reason).to_have_attribute("title", re.compile("may only view sessions"))
    reason.focus()  # reachable by keyboard, where its title shows
    expect(reason).to_be_focused()
    page.goto(f"{live_server.url}/?view=all&q={acme.session_id}")
    expect(
        page.locator(f"#session-{acme.pk}").get_by_role("button", name="Archive")
    ).to_be_visible()


def test_select_all_selects_the_selectable_rows(
    page: Page, live_server: Any, login_as: Any, operator: Any, demo: Any
) -> None:
    page.set_viewport_size(DESKTOP)
    login_as(page, operator)
    page.goto(live_server.url + "/?view=all")
    boxes = page.locator('#results tbody input[name="ids"]')
    expect(boxes.first).to_be_visible()
    # Initech's rows (view-only) have no box at all.
    initech = page.locator("#results tbody tr", has_text="Initech")
    expect(initech.first).to_be_visible()
    expect(initech.locator('input[name="ids"]')).to_have_count(0)
    head = page.get_by_role("checkbox", name=re.compile("^Select all"))
    head.check()
    assert boxes.evaluate_all("els => els.every((e) => e.checked)")
    boxes.first.uncheck()
    assert head.evaluate("el => el.indeterminate && !el.checked")
    head.click()  # from part of them: all of them
    assert boxes.evaluate_all("els => els.every((e) => e.checked)")
    head.uncheck()
    assert boxes.evaluate_all("els => els.every((e) => !e.checked)")


def test_pr_badges_name_the_pull_request(
    page: Page, live_server: Any, login_as: Any, operator: Any, acme: Organization, fake: Any
) -> None:
    created = fake.add_session(
        "org-acme",
        title="Refactor the billing exporter",
        status="running",
        status_detail="finished",
        pull_requests=[
            {"pr_url": "https://github.com/acme/billing/pull/12", "pr_state": "open"},
            {"pr_url": "https://gitlab.com/acme/infra/-/merge_requests/7", "pr_state": "merged"},
        ],
    )
    sync.sync_org(acme)
    login_as(page, operator)
    page.goto(f"{live_server.url}/?view=attention&q={created['session_id']}")
    row = page.locator("#results tbody tr")
    expect(row).to_have_count(1)  # finished with an open PR: it needs a review
    expect(row.get_by_role("link", name="billing#12 · Open")).to_have_attribute(
        "href", "https://github.com/acme/billing/pull/12"
    )
    expect(row.get_by_role("link", name="infra#7 · Merged")).to_be_visible()
