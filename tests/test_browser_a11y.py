"""axe-core on every page type, as an admin, an operator and a viewer: no WCAG 2.x A/AA violation.

The rules are the WCAG 2.0/2.1/2.2 A and AA ones (target-size included). Each test visits every
page its actor may see and reports all violations of all pages at once. Pages are reached by URL
and found by their main landmark only, so that a page's markup may change without this test
changing; the data is the fake's (30 sessions per org with every status, long and hostile
strings), synced for real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from dashboard import sync
from dashboard.models import BulkRun, Rule, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE = Axe()
PHONE = (390, 844)


def violations(page: Page) -> list[str]:
    """One line per violated rule: its id, impact, help, and the first few elements."""
    results = AXE.run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    )
    lines = []
    for v in results.response["violations"]:
        nodes = "; ".join(
            " ".join(n["target"]) + " " + (n.get("failureSummary") or "").replace("\n", " ")
            for n in v["nodes"][:4]
        )
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])}x): {v['help']}: {nodes}")
    return lines


class Tour:
    """Visits pages and collects each page's violations under its name."""

    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base = page, base
        self.found: dict[str, list[str]] = {}

    def visit(
        self,
        name: str,
        path: str,
        then: Callable[[Page], Any] | None = None,
        size: tuple[int, int] = (1280, 800),
    ) -> None:
        self.page.set_viewport_size({"width": size[0], "height": size[1]})
        self.page.goto(self.base + path)
        expect(self.page.locator("main")).to_be_visible()
        if then:
            then(self.page)
        if found := violations(self.page):
            self.found[name] = found

    def report(self) -> str:
        return "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in self.found.items())


@pytest.fixture
def synced(acme: Any, fake: Any) -> Session:
    """acme's sessions from the fake, one of them archived (the archived style is checked too)."""
    sync.sync_org(acme)
    session = Session.objects.filter(org=acme).order_by("pk").first()
    assert session
    Session.objects.filter(pk=session.pk).update(is_archived=True)
    Rule.objects.create(org=acme, name="Old exits", query="status=exit")
    return session


def open_panel(page: Page) -> None:
    page.locator('tr[id^="session-"] a[hx-get]').first.click()
    expect(page.locator("#session-panel")).to_be_visible()
    expect(page.locator("#session-panel h1")).to_be_focused()


def archive_one(page: Page) -> None:
    page.locator('tr[id^="session-"] button[hx-post$="/archive/"]').first.click()
    expect(page.locator("#toast")).to_contain_text("Undo")


def archive_failed(page: Page) -> None:
    page.locator('tr[id^="session-"] button[hx-post$="/archive/"]').first.click()
    expect(page.locator('tr[id^="session-"] [role="alert"]')).to_be_focused()


def open_track(page: Page) -> None:
    page.get_by_text("Track a session", exact=True).click()
    expect(page.get_by_label("Session id or URL")).to_be_visible()


def open_keys(page: Page) -> None:
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_be_visible()


def member_pages(tour: Tour, session: Session, acme: Any) -> None:
    """Pages every member of acme may see."""
    rule = Rule.objects.get(org=acme)
    tour.visit("sessions", "/")
    tour.visit("sessions on a phone", "/", size=PHONE)
    tour.visit("sessions, archived", "/?archived=archived")
    tour.visit("sessions, nothing matches", "/?q=zzzz-no-such-session")
    tour.visit("sessions, side panel", "/", then=open_panel)
    tour.visit("sessions, key list", "/", then=open_keys)
    tour.visit("session page", f"/sessions/{session.pk}/")
    tour.visit("session page on a phone", f"/sessions/{session.pk}/", size=PHONE)
    tour.visit("audit", "/audit/")
    tour.visit("insight", f"/insight/{acme.pk}/")
    tour.visit("rules of an org", f"/orgs/{acme.pk}/rules/")
    tour.visit("rule", f"/rules/{rule.pk}/")
    tour.visit("account", "/account/")
    tour.visit("password change", "/account/password/")
    tour.visit("404", "/no/such/page/")


@pytest.mark.parametrize("actor", ["admin", "operator", "viewer"])
def test_no_wcag_violations(
    actor: str,
    live_server: Any,
    page: Page,
    login_as: Any,
    request: pytest.FixtureRequest,
    synced: Session,
    acme: Any,
    fake: Any,
) -> None:
    user = request.getfixturevalue(actor)
    if actor == "admin":
        from tests.conftest import _member

        _member(user, acme, "operator")  # an admin who also works in acme sees its sessions
    login_as(page, user)
    tour = Tour(page, live_server.url)
    member_pages(tour, synced, acme)
    if actor == "viewer":
        tour.visit("403", "/orgs/")
    if actor != "viewer":
        tour.visit("sessions, undo toast", "/", then=archive_one)
        tour.visit("sessions, track a session", "/", then=open_track)
        fake.inject("status", count=None, status=403, method="POST", path="/archive")
        tour.visit("sessions, a row's error", "/", then=archive_failed)
        fake.clear_faults()
        run = BulkRun.objects.create(actor=user, description="Archive 3 sessions")
        tour.visit("bulk run", f"/bulk/{run.pk}/")
    if actor == "operator":
        tour.visit("403", "/team/")
        tour.visit("rule form", f"/orgs/{acme.pk}/rules/add/")
    if actor == "admin":
        tour.visit("rules of every org", "/rules/")
        tour.visit("organizations", "/orgs/")
        tour.visit("organization form", "/orgs/add/")
        tour.visit("organization edit", f"/orgs/{acme.pk}/edit/")
        tour.visit("team", "/team/")
        tour.visit("team member", f"/team/{user.pk}/")
        tour.visit("team add", "/team/add/")
    assert not tour.found, "\n" + tour.report()


def test_no_wcag_violations_signed_out(live_server: Any, page: Page, admin: Any) -> None:
    tour = Tour(page, live_server.url)
    tour.visit("sign-in", "/login/")
    tour.visit("404", "/no/such/page/")
    assert not tour.found, "\n" + tour.report()


def test_no_wcag_violations_on_first_run(live_server: Any, page: Page) -> None:
    tour = Tour(page, live_server.url)
    tour.visit("first-run setup", "/setup/")
    assert not tour.found, "\n" + tour.report()
