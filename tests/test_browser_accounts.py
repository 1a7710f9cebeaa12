"""In Chromium: an admin gives a one-time password, which the user signs in with and must
replace before anything else; then they sign out their other sessions."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW = "Kestrel-above-the-dunes-58"


def test_a_one_time_password_leads_to_a_password_of_ones_own(
    live_server: Any, page: Page, browser: Browser, login_as: Any, admin: Any, viewer: Any
) -> None:
    base = live_server.url
    elsewhere = browser.new_context().new_page()  # the viewer, signed in on another computer
    login_as(elsewhere, viewer)

    login_as(page, admin)
    page.goto(f"{base}/team/{viewer.pk}/")
    page.get_by_role("button", name="Set a one-time password").click()
    expect(page.get_by_text("viewer's one-time password, shown only this once")).to_be_visible()
    one_time = page.locator("code.secret").inner_text()

    viewer_page = browser.new_context().new_page()
    viewer_page.goto(base + "/login/")
    viewer_page.get_by_label("Username").fill("viewer")
    viewer_page.get_by_label("Password").fill(one_time)
    viewer_page.get_by_role("button", name="Sign in").click()
    expect(viewer_page).to_have_url(base + "/account/password/")
    expect(viewer_page.get_by_text("You signed in with a one-time password").first).to_be_visible()
    viewer_page.goto(base + "/insight/")  # every page leads back here
    expect(viewer_page).to_have_url(base + "/account/password/")

    viewer_page.get_by_label("Old password").fill(one_time)
    viewer_page.locator("#id_new_password1").fill(PASSWORD)
    viewer_page.locator("#id_new_password2").fill(PASSWORD + "x")
    viewer_page.get_by_role("button", name="Change password").click()
    expect(viewer_page.get_by_text("The two password fields didn’t match.")).to_be_visible()
    viewer_page.get_by_label("Old password").fill(one_time)
    viewer_page.locator("#id_new_password1").fill(NEW)
    viewer_page.locator("#id_new_password2").fill(NEW)
    viewer_page.get_by_role("button", name="Change password").click()
    expect(viewer_page).to_have_url(base + "/account/")
    expect(viewer_page.get_by_text("Your password is changed.")).to_be_visible()
    expect(viewer_page.get_by_role("cell", name="Acme")).to_be_visible()

    # The session on the other computer ended when the admin reset the password.
    elsewhere.goto(base + "/")
    expect(elsewhere).to_have_url(base + "/login/?next=/")
    viewer_page.get_by_role("button", name="Sign out everywhere else").click()
    expect(viewer_page.get_by_text("No other session was open.")).to_be_visible()
