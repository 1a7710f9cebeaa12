from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.models import AuditEvent, Session, SyncRun
from tests.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_track_a_session_by_url(client: Client, fake: Any, acme: Any, operator: Any) -> None:
    created = fake.add_session("org-acme", title="Tracked by hand", status="running")
    client.force_login(operator)
    url = "https://app.devin.ai/sessions/" + created["session_id"].removeprefix("devin-")
    response = client.post("/sessions/track/", {"ref": url}, follow=True)
    html = response.content.decode()
    assert f"Now tracking {created['session_id']}" in html
    assert "Tracked by hand" in html
    assert Session.objects.filter(session_id=created["session_id"], org=acme).exists()
    assert AuditEvent.objects.filter(action="track", session_id=created["session_id"]).exists()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "not a session id"),
        ("devin-a b", "not a session id"),
        ("devin-abc123", "has no session"),
        # Odd but possible at Devin: asked for (URL-encoded), and shown escaped.
        ("devin-<script>", "has no session devin-&lt;script&gt;"),
    ],
)
def test_track_errors_are_clear(
    client: Client, fake: Any, acme: Any, operator: Any, ref: str, message: str
) -> None:
    client.force_login(operator)
    response = client.post("/sessions/track/", {"ref": ref}, follow=True)
    assert message in response.content.decode()
    assert not Session.objects.exists()


def test_viewer_cannot_track(client: Client, fake: Any, acme: Any, viewer: Any) -> None:
    client.force_login(viewer)
    response = client.post("/sessions/track/", {"ref": "devin-abc", "org": acme.pk})
    assert response.status_code == 403


def test_sync_now_queues_a_run_that_a_worker_runs_and_the_strip_reports(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/orgs/{acme.pk}/sync/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="sync-{acme.pk}"' in html
    assert "waiting for a background worker" in html and 'hx-trigger="every 2s"' in html
    run = SyncRun.objects.get(org=acme)
    assert (run.state, run.triggered_by, run.full) == (SyncRun.State.QUEUED, operator, True)
    assert run.task_id  # enqueued once the run was committed

    run_queued_tasks()  # a worker's turn
    run.refresh_from_db()
    assert run.state == SyncRun.State.OK
    assert (run.worker, run.lease_until) == ("", None)  # released
    status = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    assert "synced" in status and f"{run.seen} seen" in status
    assert "every 1s" not in status and "every 2s" not in status  # polling stops with the run
    # ...and the answer that sees the end tells the page to reload its table.
    response = client.get(f"/orgs/{acme.pk}/sync/status/", headers={"HX-Request": "true"})
    assert json.loads(response["HX-Trigger"]) == {"sessions-synced": {}}
    assert Session.objects.filter(org=acme).count() == len(fake.sessions("org-acme"))


def test_sync_now_without_htmx_says_it_is_queued(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    page = client.post(f"/orgs/{acme.pk}/sync/", follow=True).content.decode()
    assert "Sync of Acme queued." in page
    page = client.post(f"/orgs/{acme.pk}/sync/", follow=True).content.decode()
    assert "A sync of Acme is already queued." in page
    assert SyncRun.objects.filter(org=acme).count() == 1


def test_sync_now_shows_progress_while_running(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    lease = timezone.now() + timedelta(seconds=60)
    SyncRun.objects.create(org=acme, pages=3, seen=600, worker="w:1", lease_until=lease)
    status = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    assert "Syncing: 3 pages, 600 sessions so far" in status
    assert 'hx-trigger="every 1s"' in status
    assert "Sync now" not in status
    # A second click while one runs does not start another: it shows the one running.
    response = client.post(f"/orgs/{acme.pk}/sync/", headers={"HX-Request": "true"})
    assert "Syncing: 3 pages" in response.content.decode()
    assert SyncRun.objects.filter(org=acme).count() == 1


def test_a_run_whose_worker_died_is_never_shown_as_running(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    gone = timezone.now() - timedelta(seconds=1)
    SyncRun.objects.create(org=acme, pages=3, seen=600, worker="w:1", lease_until=gone)
    status = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    assert "Syncing" not in status
    assert "The worker running this sync stopped; resuming shortly." in status
    assert 'hx-trigger="every 2s"' in status  # until recovery ends it and queues the next


def test_the_orgs_page_never_says_running_for_a_run_no_worker_holds(
    client: Client, fake: Any, acme: Any, globex: Any, admin: Any
) -> None:
    client.force_login(admin)
    now = timezone.now()
    SyncRun.objects.create(org=acme, worker="w:1", lease_until=now - timedelta(seconds=1))
    SyncRun.objects.create(org=globex, worker="w:2", lease_until=now + timedelta(seconds=60))
    page = client.get("/orgs/").content.decode()
    acme_row = page.split(f'id="org-{acme.pk}-health"')[1].split("</tr>")[0]
    globex_row = page.split(f'id="org-{globex.pk}-health"')[1].split("</tr>")[0]
    assert "stopped" in acme_row and ">running<" not in acme_row
    assert ">running<" in globex_row and "stopped" not in globex_row


def test_sync_now_failure_is_shown(client: Client, fake: Any, acme: Any, operator: Any) -> None:
    fake.inject("status", count=None, status=401)
    client.force_login(operator)
    client.post(f"/orgs/{acme.pk}/sync/")
    run_queued_tasks()
    fake.clear_faults()
    assert SyncRun.objects.get(org=acme).state == SyncRun.State.FAILED
    page = client.get("/").content.decode()
    assert "sync failed" in page and "rejected (401)" in page


def test_adding_an_org_queues_its_first_sync(client: Client, fake: Any, admin: Any) -> None:
    client.force_login(admin)
    form = {
        "name": "Initech",
        "org_id": "org-initech",
        "base_url": fake.url,
        "token": fake.tokens["org-initech"]["manage"],
    }
    page = client.post("/orgs/add/", form, follow=True).content.decode()
    assert "its first sync is queued" in page
    run = SyncRun.objects.get(org__org_id="org-initech")
    assert (run.state, run.full, run.triggered_by) == (SyncRun.State.QUEUED, True, admin)
    run_queued_tasks()
    assert Session.objects.filter(org=run.org).count() == len(fake.sessions("org-initech"))


def test_viewer_cannot_sync(client: Client, fake: Any, acme: Any, viewer: Any) -> None:
    client.force_login(viewer)
    assert client.post(f"/orgs/{acme.pk}/sync/").status_code == 403
    assert "Sync now" not in client.get("/").content.decode()
    assert not SyncRun.objects.exists()


def test_the_workers_sync_lines_carry_the_clicks_request_id(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    import io
    import logging

    from dashboard.logs import LineFormatter

    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, LineFormatter)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        client.force_login(operator)
        client.post(f"/orgs/{acme.pk}/sync/", headers={"X-Request-ID": "sync-click-1"})
        run_queued_tasks()  # the task carries the click's request id to the worker
        assert SyncRun.objects.get(org=acme).state == SyncRun.State.OK
    finally:
        handler.setStream(previous)
    lines = [line for line in buffer.getvalue().splitlines() if " dashboard.sync sync of " in line]
    assert lines and all(line.endswith("request_id=sync-click-1") for line in lines)
