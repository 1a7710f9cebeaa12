from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.models import Organization
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_adds_an_org_and_tests_its_connection(
    live_server: Any, page: Page, make_user: Any, fake: Any
) -> None:
    make_user("ada", admin=True)
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Organizations").click()
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    page.get_by_role("link", name="Add organization").click()
    page.get_by_label("Display name").fill("Initech")
    page.get_by_label("Devin org id").fill("org-initech")
    page.get_by_label("API base URL").fill(fake.url)
    page.get_by_label("Service token").fill(fake.tokens["org-initech"]["manage"])
    page.get_by_role("button", name="Add organization").click()

    expect(page).to_have_url(live_server.url + "/orgs/")
    expect(page.get_by_role("status").filter(has_text="Added Initech")).to_be_visible()
    org = Organization.objects.get(org_id="org-initech")
    row = page.locator(f"#org-{org.pk}")
    expect(row).to_contain_text("Can view sessions")  # checked as it was added

    page.evaluate("window.notReloaded = true")
    row.get_by_role("button", name="Test connection").click()
    expect(row.locator(".health-detail")).to_contain_text("can view sessions")
    expect(row).to_contain_text("unknown until the first archive")
    # "checked …" is a <time> that app.js made relative, with the exact time on hover.
    checked = row.locator('td[data-label="Health"] time[data-relative]')
    expect(checked).to_have_attribute("title", re.compile(r"\d"))
    assert page.evaluate("window.notReloaded") is True


def test_form_errors_and_a_rejected_token_on_a_phone(
    live_server: Any, page: Page, login_as: Any, admin: Any, fake: Any
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login_as(page, admin)
    page.goto(live_server.url + "/orgs/add/")
    page.get_by_label("Display name").fill("Initech")
    page.get_by_label("Devin org id").fill("initech")
    page.get_by_label("API base URL").fill("http://example.com")
    token = "cog_" + "NotKnownToTheFake" * 2 + "abcdef"
    page.get_by_label("Service token").fill(token)
    page.get_by_role("button", name="Add organization").click()
    expect(page.get_by_text("A Devin org id starts with org-")).to_be_visible()
    expect(page.get_by_text("Plain http:// is allowed only for a test server")).to_be_visible()
    # The token field comes back empty: it is never sent back to the browser.
    expect(page.get_by_label("Service token")).to_have_value("")
    assert token not in page.content()

    page.get_by_label("Devin org id").fill("org-initech")
    page.get_by_label("API base URL").fill(fake.url)
    page.get_by_label("Service token").fill(token)
    page.get_by_label("Service token").press("Enter")
    # Devin does not know the token: refused under its field, nothing saved.
    expect(page.get_by_text("rejected (401): Devin does not accept this token")).to_be_visible()
    assert not Organization.objects.exists()

    page.get_by_label("Service token").fill(fake.tokens["org-initech"]["view"])
    page.get_by_label("Service token").press("Enter")
    expect(page).to_have_url(live_server.url + "/orgs/")
    expect(page.get_by_text("Its token may only view sessions")).to_be_visible()
    expect(page.locator(".health-detail")).to_contain_text("cannot archive")
    expect(page.get_by_text("Credential health").first).to_be_hidden()  # no table head on a phone
    expect(page.locator('td[data-label="Health"]')).to_be_visible()
