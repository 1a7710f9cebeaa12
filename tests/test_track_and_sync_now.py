from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from dashboard.models import AuditEvent, Session, SyncRun

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


def wait_for_run(org: Any) -> SyncRun:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = SyncRun.objects.filter(org=org).latest("started_at")
        if run.state != SyncRun.State.RUNNING:
            return run
        time.sleep(0.05)
    raise AssertionError("sync did not finish")


def test_sync_now_runs_in_the_background_and_reports(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/orgs/{acme.pk}/sync/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f'id="sync-{acme.pk}"' in response.content.decode()
    run = wait_for_run(acme)
    assert run.state == SyncRun.State.OK
    assert run.triggered_by == operator
    status = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    assert "synced" in status and f"{run.seen} seen" in status
    assert "every 1s" not in status  # polling stops once the run is over
    # ...and the answer that sees the end tells the page to reload its table.
    response = client.get(f"/orgs/{acme.pk}/sync/status/", headers={"HX-Request": "true"})
    assert json.loads(response["HX-Trigger"]) == {"sessions-synced": {}}
    assert Session.objects.filter(org=acme).count() == len(fake.sessions("org-acme"))


def test_sync_now_shows_progress_while_running(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    client.force_login(operator)
    SyncRun.objects.create(org=acme, pages=3, seen=600)
    status = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    assert "Syncing: 3 pages, 600 sessions so far" in status
    assert 'hx-trigger="every 1s"' in status
    # A second click while one runs does not start another.
    client.post(f"/orgs/{acme.pk}/sync/", headers={"HX-Request": "true"})
    assert SyncRun.objects.filter(org=acme).count() == 1


def test_sync_now_failure_is_shown(client: Client, fake: Any, acme: Any, operator: Any) -> None:
    fake.inject("status", count=None, status=401)
    client.force_login(operator)
    client.post(f"/orgs/{acme.pk}/sync/")
    run = wait_for_run(acme)
    fake.clear_faults()
    assert run.state == SyncRun.State.FAILED
    page = client.get("/").content.decode()
    assert "sync failed" in page and "rejected (401)" in page


def test_viewer_cannot_sync(client: Client, fake: Any, acme: Any, viewer: Any) -> None:
    client.force_login(viewer)
    assert client.post(f"/orgs/{acme.pk}/sync/").status_code == 403
    assert "Sync now" not in client.get("/").content.decode()
    assert not SyncRun.objects.exists()


def test_background_sync_lines_carry_the_clicks_request_id(
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
        assert wait_for_run(acme).state == SyncRun.State.OK
    finally:
        handler.setStream(previous)
    lines = [line for line in buffer.getvalue().splitlines() if " dashboard.sync sync of " in line]
    assert lines and all(line.endswith("request_id=sync-click-1") for line in lines)
