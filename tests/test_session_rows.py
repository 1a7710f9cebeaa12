"""The sessions table's rows: one definition for the page and every swap, cached per process by
content, never showing one viewer's actions to another, nor a changed session's old state."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.test import Client

from dashboard import sync
from dashboard.access import operator_orgs
from dashboard.models import Membership, Session
from dashboard.templatetags.dashboard import session_row_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(fake: Any, acme: Any) -> Any:
    assert sync.sync_org(acme).state == "ok"
    return fake


def row_html(html: str, session: Session) -> str:
    found = re.search(rf'<tr id="session-{session.pk}".*?</tr>', html, re.S)
    assert found, f"no row for {session.session_id}"
    return found.group(0)


def page_row(client: Client, session: Session) -> str:
    return row_html(client.get(f"/?archived=all&q={session.session_id}").content.decode(), session)


def some_session(**filters: object) -> Session:
    session = Session.objects.filter(**filters).order_by("pk").first()
    assert session is not None
    return session


@pytest.mark.parametrize("cached", [False, True])
def test_the_page_and_a_swap_show_the_same_row(
    client: Client, synced: Any, operator: Any, cached: bool
) -> None:
    if not cached:
        caches["rows"].clear()
    client.force_login(operator)
    session = some_session(is_archived=False, status="running")
    on_page = page_row(client, session)
    assert on_page == page_row(client, session)  # the cached copy
    fetched = client.get(f"/sessions/{session.pk}/row/").content.decode()
    assert row_html(fetched, session) == on_page


def test_the_page_and_a_swap_read_one_cached_copy(
    client: Client, synced: Any, operator: Any
) -> None:
    # The page looks its rows up in one go ({% cached_rows %}), a swap through the row
    # partial's {% cache %}: under the same key, or the two could show different copies.
    client.force_login(operator)
    session = Session.objects.select_related("org").get(
        pk=some_session(is_archived=False, status="running").pk
    )
    page_row(client, session)
    key = make_template_fragment_key(
        "session-row", [session_row_key(session, operator_orgs(operator))]
    )
    assert caches["rows"].get(key) is not None  # stored by the page's first render
    marked = f'<tr id="session-{session.pk}">the cached copy</tr>'
    caches["rows"].set(key, marked)
    assert page_row(client, session) == marked
    assert client.get(f"/sessions/{session.pk}/row/").content.decode() == marked


def test_an_archive_swap_is_the_row_as_the_page_then_shows_it(
    client: Client, synced: Any, operator: Any
) -> None:
    client.force_login(operator)
    session = some_session(is_archived=False, status="running")
    swapped = client.post(f"/sessions/{session.pk}/archive/", headers={"HX-Request": "true"})
    swap = row_html(swapped.content.decode(), session)
    assert 'class="is-archived row-flash"' in swap
    assert swap.replace(' row-flash"', '"') == page_row(client, session)


def test_a_changed_session_is_never_shown_as_it_was(
    client: Client, synced: Any, operator: Any, fake: Any, acme: Any
) -> None:
    client.force_login(operator)
    session = some_session(is_archived=False, status="running")
    assert "Renamed for the test" not in page_row(client, session)
    # Through the sync, as every write of the dashboard goes...
    fake.update_session("org-acme", session.session_id, title="Renamed for the test")
    sync.sync_org(acme)
    assert "Renamed for the test" in page_row(client, session)
    # ...and around it.
    Session.objects.filter(pk=session.pk).update(status="exit", status_detail="")
    assert ">Exit</span>" in page_row(client, session)
    Session.objects.filter(pk=session.pk).update(acus_consumed=1234.0)
    assert ">1,234</td>" in page_row(client, session)


def test_one_viewers_actions_never_show_to_another(
    client: Client, synced: Any, operator: Any, viewer: Any
) -> None:
    session = some_session(is_archived=False)
    client.force_login(operator)
    assert "/archive/" in page_row(client, session)
    client.force_login(viewer)
    as_viewer = page_row(client, session)
    assert "/archive/" not in as_viewer and 'name="ids"' not in as_viewer
    Membership.objects.filter(user=viewer).update(role="operator")
    assert "/archive/" in page_row(client, session)


def test_a_row_holds_nothing_that_differs_by_viewer_or_by_minute(
    client: Client, synced: Any, operator: Any
) -> None:
    client.force_login(operator)
    session = some_session(is_archived=False)
    row = page_row(client, session)
    assert "csrfmiddlewaretoken" not in row
    assert " ago<" not in row and "just now" not in row
    stamp = session.updated_at.strftime("%Y-%m-%d %H:%M")
    assert (
        f'<time datetime="{session.updated_at.isoformat()}" data-relative>{stamp} UTC</time>' in row
    )
    # The button posts the page's one form, which carries the token.
    assert 'form="row-action"' in row
    page = client.get("/").content.decode()
    assert re.search(
        r'<form id="row-action" method="post" hidden><input type="hidden" '
        r'name="csrfmiddlewaretoken"',
        page,
    )
