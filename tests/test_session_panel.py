"""The side panel's actions (archive, unarchive, terminate) keep the list: htmx swaps the panel's
header and, out of band, the list row behind it; without htmx they are plain POSTs."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import AuditEvent, Session

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def running(fake: Any, acme: Any) -> Session:
    created = fake.add_session(
        "org-acme", title="Burning ACUs", status="running", status_detail="working"
    )
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(session_id=created["session_id"])


def test_the_panel_posts_its_actions_with_htmx_and_the_page_posts_them_plainly(
    client: Client, running: Session, operator: Any
) -> None:
    client.force_login(operator)
    panel = unescape(client.get(f"/sessions/{running.pk}/", headers=HX).content.decode())
    assert f'hx-post="/sessions/{running.pk}/archive/" hx-target="#session-head"' in panel
    assert f'hx-post="/sessions/{running.pk}/terminate/" hx-target="#session-head"' in panel
    assert (
        'hx-confirm="Terminate “Burning ACUs”? It stops for good: this cannot be undone."' in panel
    )
    assert panel.count('name="panel" value="1"') >= 3  # archive, terminate, tags
    assert "data-confirm" not in panel  # one question, htmx's, not two
    assert 'hx-confirm="Archive' not in panel  # as on the list: the undo is Unarchive
    page = unescape(client.get(f"/sessions/{running.pk}/").content.decode())
    assert 'hx-target="#session-head"' not in page
    assert (
        'data-confirm="Terminate “Burning ACUs”? It stops for good: this cannot be undone."' in page
    )


@pytest.mark.parametrize("action", ["archive", "terminate"])
def test_an_action_from_the_panel_swaps_its_header_and_the_row_behind_it(
    client: Client, running: Session, operator: Any, fake: Any, action: str
) -> None:
    client.force_login(operator)
    response = client.post(
        f"/sessions/{running.pk}/{action}/", {"panel": "1", "next": "/"}, headers=HX
    )
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert html.lstrip().startswith('<header class="session-head" id="session-head">')
    done = {"archive": "Archived", "terminate": "Terminated"}[action]
    assert re.search(rf'role="status" tabindex="-1" autofocus>{done} “Burning ACUs”\.<', html)
    assert "data-close-panel" in html  # still the panel's header
    # The list row, out of band from inside a <template>, and the active counter.
    row = html.split("<template>", 1)[1]
    assert row.lstrip().startswith(f'<tr id="session-{running.pk}"')
    assert 'hx-swap-oob="true"' in row and 'id="attention-count"' in row
    stored = Session.objects.get(pk=running.pk)
    if action == "archive":
        assert stored.is_archived and ">Unarchive</button>" in html.split("<template>")[0]
        assert fake.get("org-acme", running.session_id)["is_archived"] is True
    else:
        assert stored.status == "exit" and ">Terminate</button>" not in html
        assert fake.get("org-acme", running.session_id)["status"] == "exit"
    assert AuditEvent.objects.get(action=action).outcome == "ok"


def test_unarchive_from_the_panel(client: Client, running: Session, operator: Any) -> None:
    client.force_login(operator)
    client.post(f"/sessions/{running.pk}/archive/", {"panel": "1"}, headers=HX)
    html = unescape(
        client.post(
            f"/sessions/{running.pk}/unarchive/", {"panel": "1"}, headers=HX
        ).content.decode()
    )
    assert "Unarchived “Burning ACUs”." in html and ">Archive</button>" in html
    assert not Session.objects.get(pk=running.pk).is_archived


def test_a_failed_action_from_the_panel_is_said_in_its_header(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    fake.inject("status", count=None, method="DELETE", path=running.session_id, status=403)
    html = unescape(
        client.post(
            f"/sessions/{running.pk}/terminate/", {"panel": "1"}, headers=HX
        ).content.decode()
    )
    fake.clear_faults()
    assert re.search(
        r'role="alert" tabindex="-1" autofocus><strong>Terminate failed\.</strong>', html
    )
    assert "(403)" in html and "Nothing was changed." in html
    assert ">Terminate</button>" in html  # still offered
    assert f'<tr id="session-{running.pk}"' in html  # the row shows the state as stored
    assert Session.objects.get(pk=running.pk).status == "running"
    assert AuditEvent.objects.get(action="terminate").outcome == "failed"


def test_without_htmx_the_panels_post_redirects_with_a_flash(
    client: Client, running: Session, operator: Any
) -> None:
    client.force_login(operator)
    page = f"/sessions/{running.pk}/"
    response = client.post(f"{page}archive/", {"panel": "1", "next": page}, follow=True)
    assert response.redirect_chain == [(page, 302)]
    assert "Archived “Burning ACUs”." in unescape(response.content.decode())


def test_a_viewer_cannot_act_from_the_panel(client: Client, running: Session, viewer: Any) -> None:
    client.force_login(viewer)
    panel = client.get(f"/sessions/{running.pk}/", headers=HX).content.decode()
    assert "/archive/" not in panel and "/terminate/" not in panel
    response = client.post(f"/sessions/{running.pk}/archive/", {"panel": "1"}, headers=HX)
    assert response.status_code == 403
    assert not Session.objects.get(pk=running.pk).is_archived
