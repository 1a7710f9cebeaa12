"""A row's button without JavaScript (it posts the page's one form), and its times with it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import sync
from dashboard.models import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running(fake: Any, acme: Any) -> Session:
    created = fake.add_session("org-acme", title="Tidy the ledger", status="running")
    sync.sync_org(acme)
    return Session.objects.get(session_id=created["session_id"])


def test_archive_works_without_javascript(
    live_server: Any, browser: Browser, login_as: Any, operator: Any, running: Session
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = login_as(context.new_page(), operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    row = page.locator(f"#session-{running.pk}")
    # Without JavaScript the times read in UTC.
    expect(row.locator("time").first).to_have_text(f"{running.created_at:%Y-%m-%d %H:%M} UTC")
    row.get_by_role("button", name="Archive").click()
    expect(page.locator(".flash")).to_contain_text("Archived “Tidy the ledger”")
    assert Session.objects.get(pk=running.pk).is_archived
    context.close()


def test_times_read_as_words_with_javascript(
    live_server: Any, page: Page, login_as: Any, operator: Any, running: Session
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q={running.session_id}")
    created = page.locator(f"#session-{running.pk} time").first
    expect(created).to_have_text("just now")
    assert created.get_attribute("title")  # the exact local time, on hover
