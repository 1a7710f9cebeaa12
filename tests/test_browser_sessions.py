from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard import sync
from dashboard.models import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running(fake: Any, acme: Any) -> Session:
    created = fake.add_session(
        "org-acme",
        title="Refactor the billing exporter",
        status="running",
        status_detail="working",
        category="refactoring_and_optimization",
        pull_requests=[{"pr_url": "https://github.com/acme/billing/pull/12", "pr_state": "open"}],
    )
    sync.sync_org(acme)
    return Session.objects.get(session_id=created["session_id"])


def test_operator_archives_and_unarchives_without_a_reload(
    live_server: Any, page: Page, login_as: Any, operator: Any, running: Session
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f"#session-{running.pk}")
    expect(row.locator(".badge").first).to_have_text("Running")
    counter = page.locator("#active-count")
    before = int(counter.inner_text())
    row.get_by_role("button", name="Archive").click()
    expect(row.locator(".badge").first).to_have_text("Suspended")
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
    expect(row.locator(".archived-marker")).to_be_visible()
    expect(row.get_by_role("link", name="Open", exact=True)).to_have_attribute(
        "href", "https://github.com/acme/billing/pull/12"
    )
    expect(counter).to_have_text(str(before - 1))
    row.get_by_role("button", name="Unarchive").click()
    expect(row.get_by_role("button", name="Archive")).to_be_visible()
    expect(row.locator(".archived-marker")).to_have_count(0)
    expect(counter).to_have_text(str(before))
    assert page.evaluate("window.notReloaded") is True
    assert not Session.objects.get(pk=running.pk).is_archived


def test_a_403_shows_in_the_row_and_changes_nothing(
    live_server: Any, page: Page, login_as: Any, operator: Any, running: Session, fake: Any
) -> None:
    fake.inject("status", count=None, status=403, method="POST", path="/archive")
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    row = page.locator(f"#session-{running.pk}")
    row.get_by_role("button", name="Archive").click()
    expect(row.get_by_role("alert")).to_contain_text("(403)")
    expect(row.get_by_role("alert")).to_contain_text("Nothing was changed.")
    expect(row.get_by_role("button", name="Retry Archive")).to_be_visible()
    expect(row.locator(".badge").first).to_have_text("Running")
    assert not Session.objects.get(pk=running.pk).is_archived


def test_viewer_sees_sessions_but_no_buttons(
    live_server: Any, page: Page, login_as: Any, viewer: Any, running: Session
) -> None:
    login_as(page, viewer)
    page.goto(live_server.url + "/")
    expect(page.locator(f"#session-{running.pk}")).to_be_visible()
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    expect(page.get_by_role("link", name="Organizations")).to_have_count(0)


def test_filters_update_the_table_and_the_url(
    live_server: Any, page: Page, login_as: Any, operator: Any, running: Session
) -> None:
    login_as(page, operator)
    page.goto(live_server.url + "/")
    page.get_by_role("searchbox", name="Search").fill("billing exporter")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page).to_have_url(f"{live_server.url}/?q=billing+exporter")
    page.get_by_label("Pull requests").select_option("merged")
    expect(page.get_by_text("No sessions match these filters.")).to_be_visible()
    page.go_back()
    expect(page.locator("#results tbody tr")).to_have_count(1)


def test_live_view_shows_a_session_finishing_without_a_reload(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    running: Session,
    fake: Any,
    settings: Any,
    background_worker: Any,
) -> None:
    settings.LIVE_REFRESH_SECONDS = 1
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f"#session-{running.pk}")
    expect(row.locator(".detail").nth(1)).to_have_text("Working")
    fake.update_session("org-acme", running.session_id, status_detail="finished")
    expect(row.locator(".badge.attn")).to_have_text("Running", timeout=15_000)
    expect(row).to_contain_text("Finished")
    assert page.evaluate("window.notReloaded") is True


def test_sync_now_fills_an_empty_table_without_a_reload(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    acme: Any,
    fake: Any,
    background_worker: Any,
) -> None:
    login_as(page, operator)
    page.goto(live_server.url + "/")
    page.evaluate("window.notReloaded = true")
    expect(page.get_by_text("No sessions yet.")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#results tbody tr").first).to_be_visible(timeout=15_000)
    assert page.locator("#results").count() == 1
    assert page.evaluate("window.notReloaded") is True


def test_live_view_says_when_devin_cannot_be_reached(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    running: Session,
    fake: Any,
    settings: Any,
    background_worker: Any,
) -> None:
    settings.LIVE_REFRESH_SECONDS = 1
    fake.inject("status", count=None, status=503, method="GET")
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    expect(page.locator("#live-status")).to_contain_text("could not reach Devin", timeout=15_000)
    expect(page.locator(f"#session-{running.pk} .badge").first).to_have_text("Running")
    fake.clear_faults()
