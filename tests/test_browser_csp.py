"""Every page type under the real Content Security Policy, in Chromium: no violation anywhere.

An init script records `securitypolicyviolation` events on window before any page script runs,
and the console is watched too (Chromium reports blocked inline code there). Inline scripts,
inline style attributes, eval and htmx's own injected styles would each show up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from axes.models import AccessAttempt
from playwright.sync_api import ConsoleMessage, Page, expect

from dashboard import signin, sync
from dashboard.models import BulkItem, BulkRun, Session
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
      `at ${e.sourceFile}:${e.lineNumber} ${e.sample}`
  );
});
"""


class Watch:
    """CSP violations and console errors of one page, across navigations."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.violations: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text or "unsafe-eval" in text:
            self.console.append(text)

    def visit(self, url: str, *, status: int = 200) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == status, url
        self.collect(url)

    def collect(self, where: str) -> None:
        self.page.wait_for_load_state("load")
        found = self.page.evaluate("window.__cspViolations || []")
        self.violations += [f"{where}: {v}" for v in found]

    def assert_clean(self) -> None:
        assert self.violations == []
        assert self.console == []


@pytest.fixture
def watch(page: Page) -> Iterator[Watch]:
    yield Watch(page)


@pytest.fixture
def world(fake: Any, acme: Any, globex: Any, admin: Any, operator: Any, viewer: Any) -> Any:
    fake.add_session(
        "org-acme",
        title="Refactor the billing exporter",
        status="running",
        tags=["csp"],
        pull_requests=[{"pr_url": "https://github.com/acme/billing/pull/12", "pr_state": "open"}],
    )
    sync.sync_org(acme)
    sync.sync_org(globex)
    return fake


def bulk_run_of(user: Any) -> BulkRun:
    run = BulkRun.objects.create(
        actor=user, description="2 selected sessions", state="done", finished_at=datetime.now(UTC)
    )
    for session in Session.objects.filter(org__org_id="org-acme")[:2]:
        BulkItem.objects.create(run=run, session=session, session_label=session.title, outcome="ok")
    return run


def test_admin_pages(
    live_server: Any,
    page: Page,
    login_as: Any,
    watch: Watch,
    world: Any,
    admin: Any,
    acme: Any,
    viewer: Any,
) -> None:
    # A locked sign-in, so the Team page lists it.
    AccessAttempt.objects.create(
        username="viewer", ip_address="192.0.2.1", failures_since_start=5, path_info="/login/"
    )
    run = bulk_run_of(admin)
    login_as(page, admin)
    base = live_server.url
    for path in (
        "/",
        "/?status=running&archived=all&sort=acus",
        "/orgs/",
        "/orgs/add/",
        f"/orgs/{acme.pk}/edit/",
        f"/orgs/{acme.pk}/delete/",
        "/team/",
        "/team/add/",
        f"/team/{admin.pk}/",
        f"/team/{viewer.pk}/",
        "/account/",
        "/account/password/",
        "/audit/",
        "/audit/?action=sign_in&outcome=failed",
        f"/bulk/{run.pk}/",
        f"/insight/{acme.pk}/",
    ):
        watch.visit(base + path)
    watch.visit(base + "/no/such/page/", status=404)
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    # htmx under the CSP: test a connection (a row swap), unlock a sign-in (a fragment swap).
    page.goto(base + "/orgs/")
    page.get_by_role("button", name="Test connection of Acme").click()
    expect(page.locator(f"#org-{acme.pk}-health")).to_contain_text("can view sessions")
    watch.collect("/orgs/ after Test connection")
    page.goto(base + "/team/")
    page.get_by_role("button", name="Unlock viewer").click()
    expect(page.get_by_text("Unlocked viewer: they can sign in again")).to_be_visible()
    watch.collect("/team/ after Unlock")
    # A password reset through htmx: the button pressed says which kind.
    page.goto(f"{base}/team/{viewer.pk}/")
    page.get_by_role("button", name="Set a one-time password").click()
    expect(page.get_by_text("viewer's one-time password, shown only this once")).to_be_visible()
    watch.collect("/team/<viewer>/ after a reset")
    watch.assert_clean()


def test_operator_pages_and_an_htmx_archive(
    live_server: Any, page: Page, login_as: Any, watch: Watch, world: Any, operator: Any
) -> None:
    run = bulk_run_of(operator)
    login_as(page, operator)
    base = live_server.url
    for path in ("/", "/?tag=csp", "/audit/", f"/bulk/{run.pk}/", "/insight/"):
        watch.visit(base + path)
    watch.visit(base + "/orgs/", status=403)
    expect(page.get_by_role("heading", name="You can’t do that here")).to_be_visible()
    watch.visit(base + "/team/", status=403)
    watch.visit(base + "/no/such/page/", status=404)

    # An htmx archive (no confirm: an undo toast; row swap, out-of-band counter) under the CSP.
    session = Session.objects.get(title="Refactor the billing exporter")
    page.goto(f"{base}/?tag=csp")
    row = page.locator(f"#session-{session.pk}")
    row.get_by_role("button", name="Archive").click()
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
    watch.collect("/ after Archive")
    assert Session.objects.get(pk=session.pk).is_archived
    # The filter form's htmx request and the live relative times.
    page.get_by_label("Search").fill("billing")
    expect(page).to_have_url(re.compile(r"q=billing"))
    watch.collect("/ after a filter")
    watch.assert_clean()


def test_sign_in_pages(
    live_server: Any, page: Page, watch: Watch, make_user: Any, settings: Any
) -> None:
    make_user("ops")
    base = live_server.url
    watch.visit(base + "/login/")
    # A failed sign-in, then a lock, then a good one after an admin-free wait (the page renders
    # its errors in every state).
    settings.SIGN_IN_ATTEMPTS = 2
    for _ in range(2):
        page.get_by_label("Username").fill("ops")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        watch.collect("/login/ after a failure")
    expect(page.get_by_role("alert")).to_contain_text(
        "Too many failed sign-ins for this account from your address. Try again in 15 minutes"
    )
    signin.unlock("ops")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    watch.collect("/ after sign-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watch.collect("/login/ after sign-out")
    watch.assert_clean()


def test_first_run_setup_page(live_server: Any, page: Page, watch: Watch) -> None:
    base = live_server.url
    page.goto(base + "/")
    expect(page).to_have_url(base + "/setup/")
    watch.collect("/setup/")
    page.get_by_label("Username").fill("ada")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(base + "/orgs/add/")
    watch.collect("/orgs/add/ after setup")
    watch.assert_clean()


def test_the_watch_does_see_violations(live_server: Any, page: Page, watch: Watch) -> None:
    # A test that cannot fail is a defect: show that an inline style and handler are reported.
    watch.visit(live_server.url + "/login/")
    page.evaluate(
        """() => {
          document.body.insertAdjacentHTML("beforeend", '<p style="color: red">inline</p>');
          document.body.insertAdjacentHTML("beforeend", '<img src="/nope" onerror="1">');
        }"""
    )
    page.wait_for_timeout(200)
    watch.collect("/login/ with injected inline code")
    assert any("style-src" in v for v in watch.violations)
    assert any("script-src" in v for v in watch.violations)
    assert watch.console
