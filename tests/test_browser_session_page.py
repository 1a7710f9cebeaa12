from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from dashboard import sync
from dashboard.models import AuditEvent, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def waiting(fake: Any, acme: Any) -> Session:
    created = fake.add_session(
        "org-acme",
        title="Needs an answer",
        status="running",
        status_detail="waiting_for_user",
        tags=["ops"],
    )
    fake.add_message("org-acme", created["session_id"], "Which branch should I use?")
    sync.sync_org(acme)
    return Session.objects.get(session_id=created["session_id"])


def filtered_list(page: Page, url: str, session: Session) -> tuple[str, Locator]:
    """The list filtered to the session, marked so that a reload would show; and its row."""
    listing = f"{url}/?status=running&q=Needs"
    page.goto(listing)
    page.evaluate("window.notReloaded = true")
    return listing, page.locator(f"#session-{session.pk}")


def test_open_a_session_from_the_list_and_back_without_losing_the_filters(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session
) -> None:
    login_as(page, operator)
    listing, row = filtered_list(page, live_server.url, waiting)
    opener = row.get_by_role("link", name="Details of Needs an answer")
    opener.click()
    panel = page.locator("#session-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="Needs an answer")).to_be_focused()
    expect(panel).to_contain_text("Which branch should I use?")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(opener).to_be_focused()
    assert page.url == listing
    expect(page.locator("#f-q")).to_have_value("Needs")
    expect(page.get_by_role("checkbox", name="Running")).to_be_checked()
    # Again, closed with its button this time.
    opener.click()
    panel.get_by_role("button", name="Close the session panel").click()
    expect(panel).to_be_hidden()
    expect(opener).to_be_focused()
    assert page.evaluate("window.notReloaded") is True


def test_terminate_one_from_its_page(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session, fake: Any
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/sessions/{waiting.pk}/")
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Terminate").click()
    expect(page.get_by_role("status")).to_contain_text("Terminated “Needs an answer”.")
    assert "cannot be undone" in asked[0]
    expect(page.locator(".facts")).to_contain_text("Exit")
    expect(page.get_by_role("button", name="Terminate")).to_have_count(0)
    assert fake.get("org-acme", waiting.session_id)["status"] == "exit"


def test_terminate_from_the_row(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q=Needs")
    row = page.locator(f"#session-{waiting.pk}")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Terminate Needs an answer").click()
    expect(row.locator(".badge").first).to_have_text("Exit")
    expect(row.get_by_role("button", name="Terminate Needs an answer")).to_have_count(0)
    assert Session.objects.get(pk=waiting.pk).status == "exit"


def test_send_a_message_and_see_it(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/sessions/{waiting.pk}/")
    page.get_by_label("Message to Devin").fill("Use the release branch, please.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages li.message").last).to_contain_text(
        "Use the release branch, please."
    )
    expect(page.get_by_label("Message to Devin")).to_have_value("")
    assert AuditEvent.objects.get(action="message").outcome == "ok"


def test_edit_tags_in_the_panel_and_see_them_on_the_list_row(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session
) -> None:
    login_as(page, operator)
    page.goto(f"{live_server.url}/?q=Needs")
    row = page.locator(f"#session-{waiting.pk}")
    row.get_by_role("link", name="Details of Needs an answer").click()
    panel = page.locator("#session-panel")
    panel.get_by_label("Add tags").fill("urgent")
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.locator(".tag", has_text="urgent")).to_be_visible()
    expect(row.locator(".tag", has_text="urgent")).to_be_visible()
    panel.get_by_role("button", name="Remove tag ops").click()
    expect(panel.locator(".tag", has_text="ops")).to_have_count(0)
    expect(row.locator(".tag", has_text="ops")).to_have_count(0)
    assert Session.objects.get(pk=waiting.pk).tags == ["urgent"]


def test_a_hostile_conversation_runs_nothing(
    live_server: Any, page: Page, login_as: Any, operator: Any, fake: Any, acme: Any
) -> None:
    sync.sync_org(acme)
    session = Session.objects.get(session_id=fake.featured["org-acme"]["hostile"])
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    login_as(page, operator)
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    expect(page.locator("#messages li.message").first).to_be_visible()
    page.wait_for_timeout(300)
    assert dialogs == []
    hrefs = page.locator("#conversation a").evaluate_all("els => els.map(e => e.href)")
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs)
    assert page.evaluate("window.pwned === undefined")


def test_archive_and_terminate_from_the_panel_keep_the_list_and_its_filters(
    live_server: Any, page: Page, login_as: Any, operator: Any, waiting: Session, fake: Any
) -> None:
    login_as(page, operator)
    listing, row = filtered_list(page, live_server.url, waiting)
    row.get_by_role("link", name="Details of Needs an answer").click()
    panel = page.locator("#session-panel")
    expect(panel.get_by_role("heading", name="Needs an answer")).to_be_focused()
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    panel.get_by_role("button", name="Archive", exact=True).click()
    done = panel.get_by_role("status")
    expect(done).to_have_text("Archived “Needs an answer”.")
    expect(done).to_be_focused()
    expect(panel.get_by_role("button", name="Unarchive")).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bis-archived\b"))  # the row behind, swapped in place
    panel.get_by_role("button", name="Terminate").click()
    expect(panel.get_by_role("status")).to_have_text("Terminated “Needs an answer”.")
    expect(panel.get_by_role("button", name="Terminate")).to_have_count(0)
    expect(row.locator(".badge").first).to_have_text("Exit")
    # Archive is not asked first (its undo is the Unarchive button); terminate is, once.
    assert len(asked) == 1 and "cannot be undone" in asked[0]
    assert page.url == listing and page.evaluate("window.notReloaded") is True
    expect(page.locator("#f-q")).to_have_value("Needs")
    expect(page.get_by_role("checkbox", name="Running")).to_be_checked()
    remote = fake.get("org-acme", waiting.session_id)
    assert remote["is_archived"] is True and remote["status"] == "exit"
