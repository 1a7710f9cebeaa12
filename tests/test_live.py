"""The live view: a poll only reads the database and queues a refresh on a worker when the org is
due; the refresh's rows and problems reach the page on a later poll. Unit level: the queued tasks
run in this process (run_queued_tasks); the real worker is in test_background_processes.py."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from dashboard import live, sync
from dashboard.models import Organization, Session
from tests.workers import run_queued_tasks

# Committed data: the poll queues its refresh when its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def watched(fake: Any, acme: Any, settings: Any) -> list[Session]:
    settings.LIVE_REFRESH_SECONDS = 15
    for n in range(3):
        fake.add_session("org-acme", title=f"Live {n}", status="running", status_detail="working")
    sync.sync_org(acme)
    return list(Session.objects.filter(title__startswith="Live ").order_by("title"))


def poll(client: Client, rows: list[Session], since: float) -> Any:
    query = "&".join(f"ids={r.pk}" for r in rows) + f"&since={since}"
    return client.get(f"/sessions/live/?{query}", headers={"HX-Request": "true"})


def refreshes() -> int:
    return DBTaskResult.objects.filter(task_path="dashboard.live.live_refresh_task").count()


def list_calls(fake: Any) -> list[str]:
    return [path for method, path in fake.calls if path.endswith("/sessions")]


def test_the_poll_calls_no_one_and_the_rows_arrive_on_a_later_poll(
    client: Client, fake: Any, watched: list[Session], operator: Any
) -> None:
    client.force_login(operator)
    since = time.time()
    fake.update_session("org-acme", watched[1].session_id, status_detail="finished")
    fake.reset_stats()
    response = poll(client, watched, since)
    assert response.status_code == 200
    assert fake.calls == []  # not a single call to Devin inside the request
    assert "<tr" not in response.content.decode()
    assert refreshes() == 1

    run_queued_tasks()  # a worker's turn: it lists both archived and not, as a sync does
    assert sorted(fake.calls) == [("GET", "/v3/organizations/org-acme/sessions")] * 2
    assert Session.objects.get(pk=watched[1].pk).status_detail == "finished"

    response = poll(client, watched, float(response["X-Live-Since"]))
    html = response.content.decode()
    assert f'id="session-{watched[1].pk}"' in html
    assert f'id="session-{watched[0].pk}"' not in html
    assert f'id="session-{watched[2].pk}"' not in html
    assert 'hx-swap-oob="true"' in html and "row-flash" in html
    assert 'title="Finished">Finished</span>' in html
    # Nothing changed since that answer: an empty answer.
    again = poll(client, watched, float(response["X-Live-Since"]))
    assert "<tr" not in again.content.decode()


def test_many_pollers_share_one_refresh_per_interval(
    client: Client, fake: Any, watched: list[Session], operator: Any, viewer: Any
) -> None:
    Organization.objects.update(live_refreshed_at=None)
    fake.reset_stats()
    for user in [operator, viewer] * 5:
        client.force_login(user)
        assert poll(client, watched, time.time()).status_code == 200
    assert refreshes() == 1
    run_queued_tasks()
    assert len(list_calls(fake)) == 2  # one read of the org: archived and not


def test_read_again_after_the_interval(
    client: Client, fake: Any, watched: list[Session], operator: Any
) -> None:
    client.force_login(operator)
    poll(client, watched, time.time())
    Organization.objects.update(
        live_refreshed_at=Organization.objects.get().live_refreshed_at.replace(year=2000)  # type: ignore[union-attr]
    )
    poll(client, watched, time.time())
    poll(client, watched, time.time())
    assert refreshes() == 2


def test_final_or_archived_rows_do_not_queue_a_refresh(
    client: Client, fake: Any, watched: list[Session], operator: Any
) -> None:
    Session.objects.filter(pk=watched[0].pk).update(status="exit")
    Session.objects.filter(pk=watched[1].pk).update(is_archived=True)
    client.force_login(operator)
    poll(client, watched[:2], time.time())
    assert refreshes() == 0
    page = client.get("/?archived=all").content.decode()
    assert f'id="session-{watched[2].pk}" class="" data-live' in page
    assert f'id="session-{watched[0].pk}" class="" data-live' not in page


def test_a_session_archived_elsewhere_leaves_the_live_view(
    client: Client, fake: Any, watched: list[Session], operator: Any
) -> None:
    client.force_login(operator)
    since = time.time()
    fake.update_session("org-acme", watched[0].session_id, is_archived=True)
    poll(client, watched, since)
    run_queued_tasks()
    html = poll(client, watched, since).content.decode()
    assert Session.objects.get(pk=watched[0].pk).is_archived
    assert f'id="session-{watched[0].pk}" class="is-archived' in html


def test_api_trouble_is_reported_by_the_next_polls_and_cleared_when_it_passes(
    client: Client, fake: Any, watched: list[Session], operator: Any
) -> None:
    client.force_login(operator)
    fake.inject("status", count=None, status=503)
    poll(client, watched, time.time())
    run_queued_tasks()
    fake.clear_faults()
    response = poll(client, watched, time.time())
    assert response.status_code == 200
    assert "HTTP 503" in response["X-Live-Problem"]
    assert "HTTP 503" in Organization.objects.get().live_problem

    Organization.objects.update(live_refreshed_at=None)
    poll(client, watched, time.time())
    run_queued_tasks()
    assert Organization.objects.get().live_problem == ""
    assert "X-Live-Problem" not in poll(client, watched, time.time())


def test_odd_data_fails_the_refresh_with_a_reason_not_the_worker(
    client: Client,
    fake: Any,
    watched: list[Session],
    operator: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a value the mapping did not expect")

    monkeypatch.setattr(sync, "store_sessions", broken)
    client.force_login(operator)
    poll(client, watched, time.time())
    with caplog.at_level(logging.ERROR, logger="dashboard.live"):
        run_queued_tasks()
    assert "internal error" in Organization.objects.get().live_problem
    [record] = [r for r in caplog.records if r.name == "dashboard.live"]
    assert "live refresh of org-acme crashed" in record.getMessage()
    assert "a value the mapping did not expect" in (record.exc_text or "")


def test_a_refresh_left_in_the_queue_too_long_is_skipped(fake: Any, acme: Any) -> None:
    fake.reset_stats()
    asked = time.time() - live.STALE_AFTER.total_seconds() - 5
    assert live.live_refresh_task.call(acme.pk, since=asked, asked=asked) == "superseded"
    assert fake.calls == []


def test_other_orgs_rows_are_never_returned(
    client: Client, fake: Any, watched: list[Session], outsider: Any
) -> None:
    client.force_login(outsider)
    response = poll(client, watched, 0)
    assert "<tr" not in response.content.decode()
    assert refreshes() == 0


def test_live_can_be_switched_off(
    client: Client, watched: list[Session], operator: Any, settings: Any
) -> None:
    settings.LIVE_REFRESH_SECONDS = 0
    client.force_login(operator)
    assert poll(client, watched, 0).status_code == 204
    assert 'id="live"' not in client.get("/").content.decode()
    assert refreshes() == 0
