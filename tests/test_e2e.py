"""End-to-end flows in a real browser (issue #7): first run to bulk archive, as each actor sees it.

Every flow runs under `watch` (autouse): it keeps every page and fragment the server sent, and
at the end asserts that none shows a Devin token (only its `cog_…abcd` hint), that no page
reported a Content-Security-Policy violation, and that the console logged no errors.

`make screenshots` runs `test_screenshots` alone and copies its PNGs into docs/img/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.contrib.auth import get_user_model
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from playwright.sync_api import ConsoleMessage, Locator, Page, ViewportSize, expect

from dashboard import sync
from dashboard.models import BulkItem, Membership, Organization, Session
from tests.conftest import PASSWORD
from tests.workers import Process, worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Background work (Sync now, bulk archive) polls once a second; leave room for a busy machine.
BACKGROUND = 20_000
# "Password" and not "Password confirmation" (the label also holds an aria-hidden "*").
PASSWORD_LABEL = re.compile(r"^Password\W*$")

# Runs before any page script, on every page and frame. A violation is also logged as a console
# error, which outlives the page it happened on (window.__csp is per document).
CSP_RECORDER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const text = `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`;
  window.__csp.push(text);
  console.error("CSP violation: " + text);
});
"""


class Watch:
    """What one flow's server sent and browser logged, checked when the flow ends."""

    def __init__(self, page: Page, tokens: list[str]) -> None:
        self.page = page
        self.tokens = tokens
        self.sent: list[tuple[str, str]] = []  # (path, body) of every page and fragment
        self.console_errors: list[str] = []
        page.add_init_script(CSP_RECORDER)
        page.on("console", self._on_console)

    def record(self, request: HttpRequest, response: HttpResponseBase) -> None:
        # Runs in the live server's threads. Static files stream (and hold no secrets).
        if isinstance(response, HttpResponse):
            self.sent.append((request.get_full_path(), response.content.decode(errors="replace")))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def expect_console_error(self, text: str) -> None:
        """Take an error the flow expects (e.g. a refused page) off the list."""
        for logged in self.console_errors:
            if text in logged:
                self.console_errors.remove(logged)
                return
        raise AssertionError(f"no console error with {text!r} in {self.console_errors}")

    def verify(self) -> None:
        shown = [*self.sent, (self.page.url + " (the page as shown)", self.page.content())]
        assert len(shown) > 1
        for where, html in shown:
            for token in self.tokens:
                assert token not in html, f"{where} shows a token"
                for found in re.finditer(re.escape(token[-4:]), html):
                    assert html[: found.start()].endswith("cog_…"), (
                        f"{where} shows a token's last 4 characters outside its hint"
                    )
        assert self.page.evaluate("window.__csp") == []
        assert self.console_errors == []


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": DESKTOP}


@pytest.fixture(autouse=True)
def watch(page: Page, fake: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    """Every flow: no token on any page the server sent, no CSP violation, no console error."""
    watcher = Watch(page, [token for kinds in fake.tokens.values() for token in kinds.values()])
    # Every response passes here, whatever the browser does with it afterwards (a body read from
    # the browser is lost once the page navigates away).
    get_response = BaseHandler.get_response

    def recording(handler: BaseHandler, request: HttpRequest) -> HttpResponseBase:
        response = get_response(handler, request)
        watcher.record(request, response)
        return response

    monkeypatch.setattr(BaseHandler, "get_response", recording)
    yield watcher
    watcher.verify()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no button left in its hover colour
    page.screenshot(path=SHOTS / f"{name}.png")


def fits(box: Locator) -> bool:
    """No horizontal scrolling needed to see all of it."""
    return bool(box.evaluate("el => el.scrollWidth <= el.clientWidth"))


def active(fake: Any, org_id: str) -> list[dict[str, Any]]:
    return [s for s in fake.sessions(org_id) if not s["is_archived"]]


def row_of(page: Page, session_id: str) -> Locator:
    session = Session.objects.get(session_id=session_id)
    return page.locator(f"#session-{session.pk}")


def results_count(page: Page) -> Locator:
    return page.locator("#results .results-head p")


@pytest.fixture
def synced(acme: Organization) -> Organization:
    sync.sync_org(acme)
    return acme


# -- 1. first run ------------------------------------------------------------------------------


def test_first_run_creates_the_first_admin(live_server: Any, page: Page) -> None:
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/setup/")
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    page.get_by_label("Username").press_sequentially("ada")
    page.get_by_label("Email").press_sequentially("ada@example.com")
    page.get_by_label(PASSWORD_LABEL).press_sequentially(PASSWORD)
    page.get_by_label("Password confirmation").press_sequentially(PASSWORD)
    page.get_by_role("button", name="Create admin").click()

    expect(page).to_have_url(live_server.url + "/orgs/add/")
    expect(page.get_by_role("heading", name="Add an organization")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Welcome, ada. Add your first organization.")
    expect(page.locator(".who")).to_have_text("ada admin")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    ada = get_user_model().objects.get(username="ada")
    assert ada.is_superuser and ada.email == "ada@example.com"


# -- 2. an admin adds an org and the team ------------------------------------------------------


def add_user(page: Page, username: str, role_label: str, org: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label(PASSWORD_LABEL).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=username)).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Created {username}. Now give them a role below."
    )
    page.get_by_label(org).select_option(label=role_label)
    page.get_by_role("button", name="Save access").click()
    expect(page.get_by_text(f"Saved {username}'s access.")).to_be_visible()


def test_admin_adds_an_org_tests_it_and_builds_the_team(
    live_server: Any, page: Page, login_as: Any, admin: Any, fake: Any
) -> None:
    token = fake.tokens["org-initech"]["manage"]
    login_as(page, admin)
    page.goto(live_server.url + "/")
    expect(page.get_by_text("No organizations yet.")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organizations").click()
    page.get_by_role("link", name="Add organization").click()
    page.get_by_label("Display name").fill("Initech")
    page.get_by_label("Devin org id").fill("org-initech")
    page.get_by_label("API base URL").fill(fake.url)
    page.get_by_label("Service token").fill(token)
    page.get_by_role("button", name="Add organization").click()

    expect(page).to_have_url(live_server.url + "/orgs/")
    org = Organization.objects.get(org_id="org-initech")
    row = page.locator(f"#org-{org.pk}")
    expect(row).to_contain_text(f"cog_…{token[-4:]}")
    row.get_by_role("button", name="Test connection").click()
    expect(row.locator(".health-detail")).to_contain_text("can view sessions")
    expect(row.locator(".badge").first).to_have_text("Can view sessions")

    add_user(page, "olivia", "Operator (sees, syncs, archives)", "Initech")
    add_user(page, "victor", "Viewer (sees sessions)", "Initech")
    page.get_by_role("link", name="Back to the team").click()
    expect(page.get_by_role("row", name=re.compile("olivia"))).to_contain_text("Initech: operator")
    expect(page.get_by_role("row", name=re.compile("victor"))).to_contain_text("Initech: viewer")
    roles = dict(Membership.objects.filter(org=org).values_list("user__username", "role"))
    assert roles == {"olivia": "operator", "victor": "viewer"}


# -- 3. an operator syncs, filters and searches -----------------------------------------------


def test_operator_syncs_then_filters_and_searches(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    acme: Organization,
    fake: Any,
    background_worker: Any,
) -> None:
    # The first page of sessions arrives slowly, so the progress shows before the result.
    fake.inject("latency", seconds=2, method="GET", path="/sessions")
    login_as(page, operator)
    page.goto(live_server.url + "/")
    expect(page.get_by_text("No sessions yet.")).to_be_visible()
    strip = page.locator(f"#sync-{acme.pk}")
    expect(strip).to_contain_text("never synced")
    # The org's sync state is a small indicator; its popover holds the details and Sync now.
    page.locator(".sync-pop summary", has_text="Acme").click()
    page.get_by_role("button", name="Sync now").click()
    expect(strip).to_contain_text("Syncing:")
    expect(strip).to_contain_text(f"{len(fake.sessions('org-acme'))} seen", timeout=BACKGROUND)
    expect(strip.get_by_role("button", name="Sync now")).to_be_enabled()
    page.locator(".sync-pop summary", has_text="Acme").click()  # closes the popover
    # The end of the sync reloads the table with what it found: the first view with sessions.
    expect(page.locator("#results tbody tr").first).to_be_visible(timeout=BACKGROUND)
    views = page.get_by_role("navigation", name="Views")
    views.get_by_role("link", name=re.compile("^All")).click()
    expect(page).to_have_url(f"{live_server.url}/?view=all")
    synced_count = f"{len(active(fake, 'org-acme'))} sessions match"
    expect(results_count(page)).to_contain_text(synced_count)
    page.evaluate("window.notReloaded = true")
    running = [s for s in active(fake, "org-acme") if s["status"] == "running"]
    page.get_by_role("checkbox", name=re.compile(r"^Running\b")).check()
    expect(results_count(page)).to_contain_text(f"{len(running)} sessions match")
    expect(page).to_have_url(f"{live_server.url}/?status=running&view=all")

    with_open_pr = [s for s in running if any(p["pr_state"] == "open" for p in s["pull_requests"])]
    page.get_by_text("More filters").click()
    page.get_by_label("Pull requests").select_option("open")
    expect(page.locator("#results tbody tr")).to_have_count(len(with_open_pr))
    expect(page).to_have_url(f"{live_server.url}/?status=running&pr=open&view=all")
    for s in with_open_pr:
        expect(row_of(page, s["session_id"])).to_contain_text(s["title"])

    wanted = with_open_pr[0]
    words = " ".join(wanted["title"].split()[1:3])
    page.get_by_role("searchbox", name="Search").fill(words)
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(row_of(page, wanted["session_id"])).to_be_visible()
    query = "+".join(words.split())
    expect(page).to_have_url(f"{live_server.url}/?status=running&pr=open&q={query}&view=all")
    assert page.evaluate("window.notReloaded") is True


# -- 4. archive and unarchive -------------------------------------------------------------------


def test_operator_archives_and_unarchives_a_session(
    live_server: Any, page: Page, login_as: Any, operator: Any, synced: Organization, fake: Any
) -> None:
    target = next(s for s in active(fake, "org-acme") if s["status"] == "running")
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={target['session_id']}")
    page.evaluate("window.notReloaded = true")
    row = row_of(page, target["session_id"])
    status = row.locator('td[data-label="Status"] .badge')
    expect(status).to_have_text(["Running"])

    row.get_by_role("button", name="Archive").click()
    expect(status).to_have_text(["Suspended", "Archived"])
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
    assert Session.objects.get(session_id=target["session_id"]).is_archived

    row.get_by_role("button", name="Unarchive").click()
    expect(row.get_by_role("button", name="Archive")).to_be_visible()
    expect(row.locator(".archived-marker")).to_have_count(0)
    assert not Session.objects.get(session_id=target["session_id"]).is_archived
    assert page.evaluate("window.notReloaded") is True


# -- 5. bulk archive ----------------------------------------------------------------------------


@pytest.fixture
def one_at_a_time(tmp_path: Path) -> Iterator[Process]:
    """A real db_worker process (bulk runs are the workers'), one archive call at a time."""
    with worker(tmp_path, DASHBOARD_BULK_CONCURRENCY="1") as process:
        yield process


def test_operator_bulk_archives_a_filter_and_watches_it(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    synced: Organization,
    fake: Any,
    one_at_a_time: Process,
) -> None:
    exited = [s for s in active(fake, "org-acme") if s["status"] == "exit"]
    refused = exited[-1]
    # One archive at a time, each a little slow, so the progress shows; Devin refuses one.
    fake.inject("status", status=403, method="POST", path=f"/{refused['session_id']}/archive")
    fake.inject("latency", count=None, seconds=1, method="POST", path="/archive")
    login_as(page, operator)
    page.goto(live_server.url + "/?view=all")
    page.get_by_role("checkbox", name=re.compile(r"^Exit\b")).check()
    expect(results_count(page)).to_contain_text(f"{len(exited)} sessions match")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Archive all {len(exited)} matching").click()
    expect(page.get_by_role("heading", name="Bulk archive")).to_be_visible()
    progress = page.locator("#bulk-progress")
    # The worker polls its queue: under load its first pick-up can take longer than an expect's 5 s.
    expect(progress).to_contain_text("Archiving:", timeout=BACKGROUND)
    expect(progress).to_contain_text(
        f"Done: {len(exited) - 1} archived, 1 failed of {len(exited)}.", timeout=BACKGROUND
    )
    expect(progress.locator("tbody tr")).to_have_count(len(exited))
    expect(progress.get_by_role("progressbar")).to_have_attribute("value", str(len(exited)))
    failed = progress.get_by_role("row", name=re.compile(refused["title"]))
    expect(failed.locator(".badge")).to_have_text("failed")
    expect(failed).to_contain_text("(403)")
    expect(progress.locator(".badge-ok")).to_have_count(len(exited) - 1)

    archived = set(
        Session.objects.filter(
            session_id__in=[s["session_id"] for s in exited], is_archived=True
        ).values_list("session_id", flat=True)
    )
    assert archived == {s["session_id"] for s in exited} - {refused["session_id"]}
    assert BulkItem.objects.filter(outcome="failed").count() == 1
    page.get_by_role("link", name="Back to sessions").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()


# -- 6. a refused and a rate-limited archive ----------------------------------------------------


def stored(session_id: str) -> dict[str, Any]:
    fields = ("is_archived", "status", "status_detail", "updated_at", "synced_at")
    return dict(Session.objects.values(*fields).get(session_id=session_id))


def test_failed_archives_show_in_the_row_and_change_nothing(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    synced: Organization,
    fake: Any,
    settings: LazySettings,
) -> None:
    settings.LIVE_REFRESH_SECONDS = 0  # no live refresh may touch the row while it is compared
    target = next(s for s in active(fake, "org-acme") if s["status"] == "running")
    before = stored(target["session_id"])
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={target['session_id']}")
    row = row_of(page, target["session_id"])
    badges = row.locator(".badge")
    shown = badges.all_inner_texts()
    counter = page.locator("#attention-count")
    count = counter.inner_text()

    # A single archive asks nothing first (an undo follows it instead); Terminate still asks.
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    fake.inject("429", method="POST", path="/archive", retry_after="30")
    row.get_by_role("button", name="Archive").click()
    alert = row.get_by_role("alert")
    expect(alert).to_contain_text("Archive failed.")
    expect(alert).to_contain_text("(429)")
    expect(alert).to_contain_text("Try again in 30 seconds.")
    assert alert.inner_text().count("Try again") == 1  # once, not again in other words
    expect(alert).to_contain_text("Nothing was changed.")
    expect(badges).to_have_text(shown)
    expect(counter).to_have_text(count)
    assert stored(target["session_id"]) == before

    row.get_by_role("button", name="Retry Archive").click()
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
    expect(row.get_by_role("alert")).to_have_count(0)
    assert Session.objects.get(session_id=target["session_id"]).is_archived

    # A 403: the token may only view. The row says so and offers nothing that would fail again.
    other = next(
        s for s in active(fake, "org-acme") if s["status"] == "running" and s is not target
    )
    page.goto(f"{live_server.url}/?q={other['session_id']}")
    row = row_of(page, other["session_id"])
    fake.inject("status", status=403, method="POST", path="/archive")
    row.get_by_role("button", name="Archive").click()
    expect(row.get_by_role("alert")).to_contain_text("(403)")
    expect(row.get_by_role("button", name=re.compile("Archive"))).to_have_count(0)
    expect(row.get_by_text("View only")).to_be_visible()
    assert not Session.objects.get(session_id=other["session_id"]).is_archived


# -- 7. a viewer ----------------------------------------------------------------------------------


def test_viewer_sees_sessions_and_nothing_to_act_with(
    live_server: Any,
    page: Page,
    login_as: Any,
    viewer: Any,
    synced: Organization,
    fake: Any,
    watch: Watch,
) -> None:
    login_as(page, viewer)
    page.goto(live_server.url + "/?view=all")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    expect(results_count(page)).to_contain_text(f"{len(active(fake, 'org-acme'))} sessions match")
    for name in ("Archive", "Unarchive", "Sync now", "Archive selected", "Track"):
        expect(page.get_by_role("button", name=re.compile(name))).to_have_count(0)
    expect(page.get_by_text("Track a session")).to_have_count(0)
    expect(page.get_by_role("checkbox", name=re.compile("^Select"))).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Organizations")).to_have_count(0)
    expect(nav.get_by_role("link", name="Team")).to_have_count(0)

    for path in ("/orgs/", "/orgs/add/", "/team/"):
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("table")).to_have_count(0)
        expect(page.get_by_label("Service token")).to_have_count(0)
        watch.expect_console_error("403")


# -- screenshots for the README (make screenshots) ----------------------------------------------


def test_screenshots(
    live_server: Any,
    page: Page,
    login_as: Any,
    admin: Any,
    acme: Organization,
    globex: Organization,
    fake: Any,
) -> None:
    sync.sync_org(acme)
    sync.sync_org(globex)
    login_as(page, admin)

    page.goto(live_server.url + "/orgs/")
    for org in (acme, globex):
        row = page.locator(f"#org-{org.pk}")
        row.get_by_role("button", name="Test connection").click()
        expect(row.locator(".health-detail")).to_contain_text("can view sessions")
    shoot(page, "organizations")

    page.goto(live_server.url + "/")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    assert fits(page.locator("#results .table-wrap"))  # the Archive buttons too
    shoot(page, "sessions")

    target = next(s for s in active(fake, "org-acme") if s["status"] == "running")
    page.goto(f"{live_server.url}/?q={target['session_id']}")
    fake.inject("429", method="POST", path="/archive", retry_after="30")
    row_of(page, target["session_id"]).get_by_role("button", name="Archive").click()
    expect(row_of(page, target["session_id"]).get_by_role("alert")).to_contain_text("(429)")
    shoot(page, "error-row")

    # On a phone each row is a card; the picture starts where the cards do.
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    assert fits(page.locator("#results .table-wrap"))
    page.locator("#results").evaluate("results => results.scrollIntoView()")
    shoot(page, "sessions-phone")
