"""The sync bar of the sessions page: each org's dot, its words, and its status, for every state
of its newest run (worked out once per org by the `sync_cells` tag)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.models import SyncRun

pytestmark = pytest.mark.django_db


def _run(org: Any, kind: str) -> SyncRun | None:
    now = timezone.now()
    gone = now - timedelta(seconds=1)  # a lease that ran out: the worker stopped
    held = now + timedelta(minutes=1)
    made = {
        "none": None,
        "queued": {"state": "queued"},
        "running": {"state": "running", "pages": 3, "seen": 600, "lease_until": held},
        "stalled": {"state": "running", "pages": 3, "seen": 600, "lease_until": gone},
        "ok": {"state": "ok", "seen": 1000, "finished_at": now - timedelta(minutes=5)},
        "skipped": {"state": "ok", "seen": 10, "skipped": 2, "skipped_detail": "devin-x: bad"},
        "failed": {"state": "failed", "error": "Devin refused the token (401)."},
    }[kind]
    if made is None:
        return None
    return SyncRun.objects.create(org=org, started_at=now - timedelta(minutes=9), **made)


@pytest.mark.parametrize(
    ("kind", "dot", "summary", "status", "poll"),
    [
        ("none", "none", "never synced", "never synced", ""),
        ("queued", "busy", "syncing", "Queued <time", "2s"),
        ("running", "busy", "syncing", "Syncing: 3 pages, 600 sessions so far", "1s"),
        ("stalled", "busy", "syncing", "resuming shortly", "2s"),
        ("ok", "ok", "", "synced <time", ""),
        ("skipped", "ok", "2 unread", "2 sessions could not be read", ""),
        ("failed", "bad", "sync failed", "Devin refused the token (401).", ""),
    ],
)
def test_each_state_of_the_newest_run(
    client: Client,
    acme: Any,
    operator: Any,
    kind: str,
    dot: str,
    summary: str,
    status: str,
    poll: str,
) -> None:
    run = _run(acme, kind)
    client.force_login(operator)
    page = client.get("/").content.decode()
    head = re.search(r"<summary title=\"Last sync of Acme\">(.*?)</summary>", page, re.S)
    assert head is not None
    assert f'class="dot dot-{dot}"' in head.group(1)
    assert summary in head.group(1)
    standalone = client.get(f"/orgs/{acme.pk}/sync/status/").content.decode()
    for html in (page, standalone):  # the page's copy and the polled one: one partial
        assert status in html
        assert (f'hx-trigger="every {poll}"' in html) is bool(poll)
        assert (f'hx-get="/orgs/{acme.pk}/sync/status/"' in html) is bool(poll)
        # An operator may start a sync unless one is under way.
        assert (f'action="/orgs/{acme.pk}/sync/"' in html) is (not poll)
    if run is not None and kind in ("queued", "ok"):
        shown = run.started_at if kind == "queued" else run.finished_at
        assert f'<time datetime="{timezone.localtime(shown).isoformat()}" data-relative>' in page
        assert ("9 minutes ago" if kind == "queued" else "5 minutes ago") in page


def test_a_viewer_gets_no_sync_button(client: Client, acme: Any, viewer: Any) -> None:
    _run(acme, "ok")
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "synced <time" in page
    assert "Sync now" not in page


def test_the_bar_shows_each_orgs_newest_run_of_many(
    client: Client, acme: Any, globex: Any, admin: Any
) -> None:
    now = timezone.now()
    for hours in range(20, 0, -1):  # 20 older runs each, as syncruns.KEEP_RUNS keeps
        for org in (acme, globex):
            SyncRun.objects.create(
                org=org, state="ok", seen=hours, started_at=now - timedelta(hours=hours)
            )
    SyncRun.objects.create(org=acme, state="failed", error="Newest of Acme.", started_at=now)
    # Created last but started earlier: not globex's newest.
    SyncRun.objects.create(
        org=globex, state="failed", error="Old.", started_at=now - timedelta(days=2)
    )
    client.force_login(admin)
    page = client.get("/").content.decode()
    acme_head = re.search(r'<summary title="Last sync of Acme">(.*?)</summary>', page, re.S)
    globex_head = re.search(r'<summary title="Last sync of Globex">(.*?)</summary>', page, re.S)
    assert acme_head is not None and globex_head is not None
    assert "sync failed" in acme_head.group(1) and "Newest of Acme." in page
    assert "dot-ok" in globex_head.group(1) and "Old." not in page
    assert ": 1 seen" in page  # globex's run of an hour ago
