"""An operator makes a retention rule in a real browser, previews it, enables it, and after a
run by a real worker sees its sessions archived on the sessions page and in the audit log."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard import sync
from dashboard.management.commands.sync_sessions import scheduler_pass
from dashboard.models import Organization, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_makes_a_rule_and_sees_what_it_archived(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    acme: Organization,
    fake: Any,
    background_worker: Any,
) -> None:
    old = int(time.time()) - 10 * 86_400
    for i in range(3):
        fake.add_session(
            "org-acme", title=f"stale {i}", status="exit", tags=["stale"], updated_at=old
        )
    fake.add_session("org-acme", title="stale but fresh", status="exit", tags=["stale"])
    assert sync.sync_org(acme).state == "ok"

    login_as(page, operator)
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Rules").click()
    expect(page.get_by_role("heading", name="Retention rules of Acme")).to_be_visible()
    page.get_by_role("link", name="Add rule").click()
    page.get_by_label("Name").fill("stale")
    page.get_by_label("Has tag").fill("stale")
    page.get_by_label("Not updated for (days)").fill("7")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#rule-preview")
    expect(preview).to_contain_text("This rule would archive 3 sessions now.")
    expect(preview).to_contain_text("stale 0")
    expect(preview).not_to_contain_text("stale but fresh")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("heading", name="Rule “stale”")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Paused: it does not run until enabled.")
    page.get_by_role("button", name="Enable rule").click()
    expect(page.locator("main")).to_contain_text("Enabled: archived 0 so far.")

    scheduler_pass(Organization.objects.none(), 3600)  # the scheduler's pass queues the run

    def archived() -> int:
        return Session.objects.filter(tags_text="|stale|", is_archived=True).count()

    deadline = time.monotonic() + 60
    while archived() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    page.goto(f"{live_server.url}/?archived=archived&tag=stale")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3, timeout=15_000)
    for i in range(3):
        expect(page.locator("#results")).to_contain_text(f"stale {i}")
    page.goto(f"{live_server.url}/?tag=stale")
    expect(page.locator("#results")).to_contain_text("stale but fresh")
    page.goto(f"{live_server.url}/audit/?action=archive")
    expect(page.locator("main")).to_contain_text("rule stale")
    page.goto(f"{live_server.url}/orgs/{acme.pk}/rules/")
    expect(page.locator("td[data-label='Archived so far']")).to_have_text("3")
