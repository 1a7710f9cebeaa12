"""The sessions list by keyboard: focus after every row swap, the shortcuts, Escape, and undo.

Rows are found generically (`tr[id^="session-"]`, the first button of `.row-actions`, the search
box by its name), so that the table's markup may change without these tests changing.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog, Locator, Page, Route, expect

from dashboard import sync
from dashboard.models import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = 'tr[id^="session-"]'
SEARCH = 'input[name="q"]:not([type="hidden"])'


@pytest.fixture
def trio(fake: Any, acme: Any) -> list[Session]:
    """Three running sessions of acme that a search for "Keyboard" finds, and nothing else."""
    ids = [
        fake.add_session("org-acme", title=f"Keyboard drill {name}", status="running")["session_id"]
        for name in ("one", "two", "three")
    ]
    sync.sync_org(acme)
    return [Session.objects.get(session_id=i) for i in ids]


def archived(sessions: list[Session]) -> list[Session]:
    return list(Session.objects.filter(pk__in=[s.pk for s in sessions], is_archived=True))


def listing(page: Page, live_server: Any) -> Page:
    page.goto(f"{live_server.url}/?q=Keyboard")
    expect(page.locator(ROWS)).to_have_count(3)
    return page


def primary(row: Locator) -> Locator:
    return row.locator(".row-actions button").first


def refuse_dialogs(page: Page) -> list[str]:
    """Dismiss (and record) any confirm(): a single archive must not ask one."""
    asked: list[str] = []

    def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    return asked


def test_archive_keeps_focus_in_the_row_and_offers_undo(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    asked = refuse_dialogs(login_as(page, operator))
    listing(page, live_server)
    session = trio[1]
    row = page.locator(f"#session-{session.pk}")
    row.get_by_role("button", name="Archive").click()
    unarchive = row.get_by_role("button", name="Unarchive")
    expect(unarchive).to_be_focused()
    toast = page.get_by_role("status").filter(has_text="Archived")
    expect(toast).to_contain_text("Archived · Undo")
    assert asked == []
    assert Session.objects.get(pk=session.pk).is_archived
    # Undo presses the row's Unarchive; the focus stays in the row, on its Archive button now.
    toast.get_by_role("button", name="Undo").click()
    expect(row.get_by_role("button", name="Archive")).to_be_focused()
    expect(page.locator("#toast")).to_have_text("Unarchived")
    expect(page.locator("#toast").get_by_role("button")).to_have_count(0)
    assert not Session.objects.get(pk=session.pk).is_archived


def test_the_toast_goes_after_a_while_but_stays_while_focused(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    page.clock.install()
    login_as(page, operator)
    listing(page, live_server)
    row = page.locator(f"#session-{trio[0].pk}")
    row.get_by_role("button", name="Archive").click()
    undo = page.locator("#toast").get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    undo.focus()  # reached by keyboard: held while focused
    page.clock.run_for(20_000)
    expect(undo).to_be_visible()
    row.get_by_role("button", name="Unarchive").focus()
    page.clock.run_for(9_000)
    expect(page.locator("#toast")).to_be_empty()


def test_unarchive_says_so_and_keeps_focus(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    # A slow settle (htmx wires the new row's buttons then) widens the window an early focus had.
    page.evaluate("window.notReloaded = true; htmx.config.defaultSettleDelay = 600")
    row = page.locator(f"#session-{trio[0].pk}")
    row.get_by_role("button", name="Archive").click()
    unarchive = row.get_by_role("button", name="Unarchive")
    expect(unarchive).to_be_focused()
    # At once: the focus comes back only once htmx wired the new row, so this is no plain submit.
    page.keyboard.press("Enter")
    expect(row.get_by_role("button", name="Archive")).to_be_focused()
    expect(page.locator("#toast")).to_have_text("Unarchived")
    assert page.evaluate("window.notReloaded") is True
    assert not Session.objects.get(pk=trio[0].pk).is_archived


def test_an_error_swap_focuses_the_message_and_dismiss_returns_to_the_button(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session], fake: Any
) -> None:
    fake.inject("status", count=1, status=403, method="POST", path="/archive")
    login_as(page, operator)
    listing(page, live_server)
    row = page.locator(f"#session-{trio[2].pk}")
    row.get_by_role("button", name="Archive").click()
    alert = row.get_by_role("alert")
    expect(alert).to_be_focused()
    expect(alert).to_have_attribute("tabindex", "-1")
    expect(page.locator("#toast")).to_be_empty()  # nothing was archived, nothing to undo
    row.get_by_role("button", name="Dismiss").click()
    expect(primary(row)).to_be_focused()
    expect(primary(row)).to_contain_text("Archive")


def test_terminate_still_asks_and_keeps_focus(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    login_as(page, operator).on("dialog", accept)
    listing(page, live_server)
    row = page.locator(f"#session-{trio[0].pk}")
    row.get_by_role("button", name="Terminate").click()
    expect(row.locator(".badge").first).to_have_text("Exit")
    expect(primary(row)).to_be_focused()
    assert len(asked) == 1 and "cannot be undone" in asked[0]
    expect(page.locator("#toast")).to_be_empty()


def test_a_swap_does_not_steal_focus_that_moved_on(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)

    # Slow the archive down so that the focus moves on before the answer comes.
    def slowly(route: Route) -> None:
        page.wait_for_timeout(600)
        route.continue_()

    page.route("**/archive/", slowly)
    row = page.locator(f"#session-{trio[0].pk}")
    row.get_by_role("button", name="Archive").click()
    search = page.locator(SEARCH)
    search.focus()
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
    expect(search).to_be_focused()


def test_live_refresh_keeps_focus_where_it_was(
    live_server: Any,
    page: Page,
    login_as: Any,
    operator: Any,
    trio: list[Session],
    fake: Any,
    settings: Any,
    background_worker: Any,
) -> None:
    settings.LIVE_REFRESH_SECONDS = 1
    login_as(page, operator)
    listing(page, live_server)
    first, second = page.locator(f"#session-{trio[0].pk}"), page.locator(f"#session-{trio[1].pk}")
    details = first.get_by_role("link", name="Details of Keyboard drill one")
    details.focus()
    fake.update_session("org-acme", trio[0].session_id, status_detail="finished")
    fake.update_session("org-acme", trio[1].session_id, status_detail="finished")
    expect(first).to_contain_text("Finished", timeout=15_000)
    expect(second).to_contain_text("Finished", timeout=15_000)
    # The row was replaced, and the same link of the new row has the focus.
    expect(details).to_be_focused()
    # A refresh of a row that does not hold the focus leaves it where it is.
    search = page.locator(SEARCH)
    search.focus()
    fake.update_session("org-acme", trio[2].session_id, status_detail="waiting_for_user")
    expect(page.locator(f"#session-{trio[2].pk}")).to_contain_text("Waiting", timeout=15_000)
    expect(search).to_be_focused()


def test_j_and_k_move_x_selects_e_archives_u_undoes(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    asked = refuse_dialogs(login_as(page, operator))
    listing(page, live_server)
    page.evaluate("window.notReloaded = true")
    rows = page.locator(ROWS)
    page.keyboard.press("j")
    expect(primary(rows.nth(0))).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(primary(rows.nth(2))).to_be_focused()
    page.keyboard.press("j")  # the last row stays
    expect(primary(rows.nth(2))).to_be_focused()
    page.keyboard.press("k")
    expect(primary(rows.nth(1))).to_be_focused()
    box = rows.nth(1).locator('input[name="ids"]')
    page.keyboard.press("x")
    expect(box).to_be_checked()
    page.keyboard.press("x")
    expect(box).not_to_be_checked()
    row_id = rows.nth(1).get_attribute("id")
    assert row_id
    row = page.locator(f"#{row_id}")
    page.keyboard.press("e")
    expect(row.get_by_role("button", name="Unarchive")).to_be_focused()
    expect(page.locator("#toast")).to_contain_text("Archived · Undo")
    pk = int(row_id.removeprefix("session-"))
    assert Session.objects.get(pk=pk).is_archived
    page.keyboard.press("e")  # an archived row has nothing to archive
    expect(row.get_by_role("button", name="Unarchive")).to_be_focused()
    page.keyboard.press("u")
    expect(row.get_by_role("button", name="Archive")).to_be_focused()
    expect(page.locator("#toast")).to_have_text("Unarchived")
    assert not Session.objects.get(pk=pk).is_archived
    assert asked == []
    assert page.evaluate("window.notReloaded") is True


def test_slash_focuses_search_and_keys_type_there(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    search = page.locator(SEARCH)
    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("Keyboard")  # the slash was not typed
    page.keyboard.press("End")
    page.keyboard.type(" jkxe?")
    expect(search).to_have_value("Keyboard jkxe?")
    expect(page.locator("#keys-dialog")).to_have_count(0)
    assert not archived(trio)


def test_modifier_keys_are_left_to_the_browser(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    page.keyboard.press("j")
    first = primary(page.locator(ROWS).first)
    expect(first).to_be_focused()
    page.keyboard.press("Control+j")
    page.keyboard.press("Alt+e")
    expect(first).to_be_focused()
    assert not archived(trio)


def test_question_mark_lists_the_keys_and_escape_closes_the_list(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    page.keyboard.press("j")
    first = primary(page.locator(ROWS).first)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for key in ("j", "k", "x", "e", "/", "?", "Esc"):
        expect(dialog.locator("kbd", has_text=key).first).to_be_visible()
    page.keyboard.press("j")  # the list is modal: the rows do not move under it
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(first).to_be_focused()
    page.keyboard.press("?")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(first).to_be_focused()


def test_escape_closes_track_a_session_and_returns_to_its_button(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    summary = page.get_by_text("Track a session", exact=True)
    summary.click()
    field = page.get_by_label("Session id or URL")
    expect(field).to_be_visible()
    field.fill("devin-abc")
    page.keyboard.press("Escape")
    expect(field).to_be_hidden()
    expect(summary).to_be_focused()
    # And with the focus on the summary itself.
    page.keyboard.press("Enter")
    expect(field).to_be_visible()
    page.keyboard.press("Escape")
    expect(field).to_be_hidden()
    expect(summary).to_be_focused()


def test_escape_closes_the_side_panel_and_every_popover_at_once(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    login_as(page, operator)
    listing(page, live_server)
    page.get_by_text("Track a session", exact=True).click()
    opener = page.get_by_role("link", name="Details of Keyboard drill two")
    opener.click()
    panel = page.locator("#session-panel")
    heading = panel.get_by_role("heading", name="Keyboard drill two")
    expect(heading).to_be_focused()
    page.keyboard.press("j")  # the panel covers the rows: j does not move behind it
    expect(heading).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_label("Session id or URL")).to_be_hidden()
    expect(opener).to_be_focused()


def test_viewer_moves_between_rows_with_a_visible_ring(
    live_server: Any, page: Page, login_as: Any, viewer: Any, trio: list[Session]
) -> None:
    login_as(page, viewer)
    listing(page, live_server)
    rows = page.locator(ROWS)
    page.keyboard.press("j")
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(rows.nth(1)).to_be_focused()
    outline = rows.nth(1).evaluate("tr => getComputedStyle(tr).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("e")
    page.keyboard.press("x")
    assert not archived(trio)


def test_a_confirm_left_on_archive_is_skipped(
    live_server: Any, page: Page, login_as: Any, operator: Any, trio: list[Session]
) -> None:
    asked = refuse_dialogs(login_as(page, operator))
    listing(page, live_server)
    row = page.locator(f"#session-{trio[0].pk}")
    button = row.get_by_role("button", name="Archive")
    button.evaluate("b => b.setAttribute('hx-confirm', 'Archive it?')")
    button.click()
    expect(row.get_by_role("button", name="Unarchive")).to_be_focused()
    assert asked == []
    assert Session.objects.get(pk=trio[0].pk).is_archived
