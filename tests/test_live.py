from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import Organization, Session

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched(fake: Any, acme: Any) -> list[Session]:
    for n in range(3):
        fake.add_session("org-acme", title=f"Live {n}", status="running", status_detail="working")
    sync.sync_org(acme)
    return list(Session.objects.filter(title__startswith="Live ").order_by("title"))


def poll(client: Client, rows: list[Session], since: float) -> Any:
    query = "&".join(f"ids={r.pk}" for r in rows) + f"&since={since}"
    return client.get(f"/sessions/live/?{query}", headers={"HX-Request": "true"})


def test_poll_returns_only_the_rows_that_changed(
    client: Client, fake: Any, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    client.force_login(operator)
    since = time.time()
    fake.update_session("org-acme", watched[1].session_id, status_detail="finished")
    response = poll(client, watched, since)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="session-{watched[1].pk}"' in html
    assert f'id="session-{watched[0].pk}"' not in html
    assert f'id="session-{watched[2].pk}"' not in html
    assert 'hx-swap-oob="true"' in html and "row-flash" in html
    assert "attn" in html and '<span class="detail">Finished</span>' in html
    assert Session.objects.get(pk=watched[1].pk).status_detail == "finished"
    assert float(response["X-Live-Since"]) >= since
    # Nothing changed since that answer: an empty answer.
    again = poll(client, watched, float(response["X-Live-Since"]))
    assert "<tr" not in again.content.decode()


def test_many_pollers_share_one_read_per_interval(
    client: Client, fake: Any, watched: list[Session], operator: Any, viewer: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    Organization.objects.update(live_refreshed_at=None)
    fake.reset_stats()
    for user in [operator, viewer] * 5:
        client.force_login(user)
        assert poll(client, watched, time.time()).status_code == 200
    list_calls = [path for method, path in fake.calls if path.endswith("/sessions")]
    assert len(list_calls) == 1


def test_read_again_after_the_interval(
    client: Client, fake: Any, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    client.force_login(operator)
    poll(client, watched, time.time())
    Organization.objects.update(
        live_refreshed_at=Organization.objects.get().live_refreshed_at.replace(year=2000)  # type: ignore[union-attr]
    )
    fake.reset_stats()
    poll(client, watched, time.time())
    assert len([p for _, p in fake.calls if p.endswith("/sessions")]) == 1


def test_final_or_archived_rows_do_not_trigger_a_read(
    client: Client, fake: Any, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    Session.objects.filter(pk=watched[0].pk).update(status="exit")
    Session.objects.filter(pk=watched[1].pk).update(is_archived=True)
    client.force_login(operator)
    fake.reset_stats()
    poll(client, watched[:2], time.time())
    assert fake.calls == []
    page = client.get("/?archived=all").content.decode()
    assert f'id="session-{watched[2].pk}" class="" data-live' in page
    assert f'id="session-{watched[0].pk}" class="" data-live' not in page


def test_api_trouble_keeps_the_page_calm(
    client: Client, fake: Any, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    fake.inject("status", count=None, status=503)
    client.force_login(operator)
    response = poll(client, watched, time.time())
    fake.clear_faults()
    assert response.status_code == 200
    assert "HTTP 503" in response["X-Live-Problem"]


def test_other_orgs_rows_are_never_returned(
    client: Client, fake: Any, watched: list[Session], outsider: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    client.force_login(outsider)
    response = poll(client, watched, 0)
    assert "<tr" not in response.content.decode()


def test_live_can_be_switched_off(
    client: Client, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 0
    client.force_login(operator)
    assert poll(client, watched, 0).status_code == 204
    assert 'id="live"' not in client.get("/").content.decode()
