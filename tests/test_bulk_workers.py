"""Bulk archive with real worker processes (`manage.py db_worker`), killed as a deploy or the OOM
killer would kill them, against the fake Devin API over loopback HTTP.

Leases and deadlines are short here (3 s and 2 s) so recovery is quick; the bounds asserted are
the lease plus the work left, with room for a busy machine.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client

from dashboard import sync
from dashboard.models import ActionAttempt, AuditEvent, BulkItem, BulkRun, Organization, Session
from tests.workers import Process, gunicorn, start_worker, wait_for, worker

pytestmark = pytest.mark.django_db(transaction=True)

LEASE, DEADLINE = "3", "2"
ENV = {"DASHBOARD_RUN_LEASE": LEASE, "DASHBOARD_ACTION_DEADLINE": DEADLINE}
# The scheduler, which runs recovery on every pass (here every 0.5 s); its hourly syncs do not
# come round during a test.
SCHEDULER = ["sync_sessions", "--loop", "--interval", "3600", "--tick", "0.5"]


@pytest.fixture(autouse=True)
def short_leases(settings: Any) -> None:
    settings.RUN_LEASE_SECONDS = float(LEASE)
    settings.ACTION_DEADLINE_SECONDS = float(DEADLINE)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[Process]:
    process = Process(SCHEDULER, tmp_path / "scheduler.log", **ENV)
    yield process
    process.stop()


def add_sessions(fake: Any, org: Organization, n: int, tag: str) -> list[int]:
    for i in range(n):
        fake.add_session(org.org_id, title=f"{tag} {i}", status="running", tags=[tag])
    assert sync.sync_org(org).state == "ok"
    return list(
        Session.objects.filter(org=org, tags_text__contains=f"|{tag}|").values_list("pk", flat=True)
    )


def start_run(user: Any, ids: list[int]) -> int:
    client = Client()
    client.force_login(user)
    response = client.post("/sessions/bulk-archive/", {"scope": "selected", "ids": ids})
    assert response.status_code == 302, response
    return int(response["Location"].rstrip("/").split("/")[-1])


def text(html: str) -> str:
    """What a person reads: tags out, whitespace as one space."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


def outcomes(run_pk: int) -> Counter[str]:
    return Counter(BulkItem.objects.filter(run_id=run_pk).values_list("outcome", flat=True))


def archive_calls(fake: Any) -> Counter[str]:
    """Archive calls that reached the fake, per session id."""
    return Counter(
        p.split("/")[-2] for m, p in fake.calls if m == "POST" and p.endswith("/archive")
    )


def assert_complete(run_pk: int, fake: Any, n: int) -> None:
    """Every item ok, one summary, every call that reached Devin audited, nothing sent twice."""
    assert outcomes(run_pk) == Counter({"ok": n})
    summary = AuditEvent.objects.filter(
        action="bulk_archive_finished", detail__startswith=f"bulk #{run_pk}:"
    )
    assert [e.detail for e in summary] == [f"bulk #{run_pk}: {n} archived, 0 not, of {n}"]
    targets = set(
        BulkItem.objects.filter(run_id=run_pk).values_list("session__session_id", flat=True)
    )
    calls = archive_calls(fake)
    assert set(calls) & targets == targets
    assert {sid: k for sid, k in calls.items() if sid in targets and k != 1} == {}
    audited = set(AuditEvent.objects.filter(action="archive").values_list("session_id", flat=True))
    assert targets <= audited
    assert not ActionAttempt.objects.filter(settled_at__isnull=True).exists()
    assert Session.objects.filter(session_id__in=targets, is_archived=True).count() == n


def test_a_killed_worker_loses_nothing(
    tmp_path: Path, fake: Any, acme: Organization, operator: Any, scheduler: Process
) -> None:
    ids = add_sessions(fake, acme, 300, "nightly")
    fake.latency = 0.1
    fake.reset_stats()
    run_pk = start_run(operator, ids)

    first = start_worker(tmp_path, "first", **ENV)
    wait_for(lambda: outcomes(run_pk)["ok"] >= 60, 60, "the first worker to archive 60")
    first.kill()  # SIGKILL: no finally, no hand-back
    left = outcomes(run_pk)
    assert left["pending"] > 0, f"the run ended before the kill: {left}"
    client = Client()
    client.force_login(operator)
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Archiving:" in page or "Stopped; resuming" in page  # the lease has not run out yet

    wait_for(
        lambda: (
            "Stopped; resuming" in client.get(f"/bulk/{run_pk}/").content.decode()
            or BulkRun.objects.get(pk=run_pk).worker == ""
        ),
        10,
        "the page to stop saying a dead worker is archiving",
    )
    with worker(tmp_path, "second", **ENV):
        # Lease (3 s) + a recovery pass + the ~240 items left at 100 ms, 8 at a time.
        wait_for(lambda: BulkRun.objects.get(pk=run_pk).state == "done", 60, "the run to end")

    assert_complete(run_pk, fake, 300)
    page = client.get(f"/bulk/{run_pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Done: 300 archived, 0 failed of 300." in text(page)
    assert "hx-trigger" not in page  # the page stops polling


def test_sigterm_hands_the_run_back_and_the_next_worker_finishes_it(
    tmp_path: Path, fake: Any, acme: Organization, operator: Any
) -> None:
    ids = add_sessions(fake, acme, 120, "weekly")
    fake.latency = 0.1
    fake.reset_stats()
    run_pk = start_run(operator, ids)

    first = start_worker(tmp_path, "first", **ENV)
    wait_for(lambda: outcomes(run_pk)["ok"] >= 20, 60, "the first worker to archive 20")
    code = first.stop(timeout=10)  # SIGTERM: finish the items in flight, hand back, exit
    assert code == 0, first.output()
    handed_back = BulkRun.objects.get(pk=run_pk)
    assert handed_back.worker == "" and handed_back.state == "running"
    assert outcomes(run_pk)["working"] == 0
    assert outcomes(run_pk)["pending"] > 0
    # No recovery here: the stopping worker queued the next slice itself.
    with worker(tmp_path, "second", **ENV):
        wait_for(lambda: BulkRun.objects.get(pk=run_pk).state == "done", 60, "the run to end")
    assert_complete(run_pk, fake, 120)


def test_two_workers_take_two_runs_at_once_and_no_item_twice(
    tmp_path: Path, fake: Any, acme: Organization, operator: Any
) -> None:
    ids = add_sessions(fake, acme, 200, "batch")
    fake.latency = 0.1
    fake.reset_stats()
    env = {**ENV, "DASHBOARD_BULK_CONCURRENCY": "4"}
    runs = [start_run(operator, ids[:100]), start_run(operator, ids[100:])]
    with worker(tmp_path, "one", **env), worker(tmp_path, "two", **env):
        wait_for(
            lambda: all(BulkRun.objects.get(pk=pk).state == "done" for pk in runs),
            90,
            "both runs to end",
        )
    for pk in runs:
        assert_complete(pk, fake, 100)
    # More calls at once than one run may make: the two runs were worked side by side.
    assert 4 < fake.peak_in_flight <= 8


def test_a_gunicorn_restart_during_a_bulk_run_loses_nothing(
    tmp_path: Path,
    fake: Any,
    acme: Organization,
    operator: Any,
) -> None:
    ids = add_sessions(fake, acme, 150, "deploy")
    fake.latency = 0.1
    fake.reset_stats()
    signed_in = Client()
    signed_in.force_login(operator)
    cookie = signed_in.cookies[django_settings.SESSION_COOKIE_NAME].value
    jar = {django_settings.SESSION_COOKIE_NAME: cookie}
    with (
        gunicorn(tmp_path / "gunicorn.log", GUNICORN_WORKERS="1", **ENV) as server,
        httpx.Client(base_url=server.url, cookies=jar) as http,
    ):
        http.get("/").raise_for_status()
        response = http.post(
            "/sessions/bulk-archive/",
            data={"scope": "selected", "ids": [str(pk) for pk in ids]},
            headers={"X-CSRFToken": http.cookies["csrftoken"]},
        )
        assert response.status_code == 302, response.text
        match = re.search(r"/bulk/(\d+)/", response.headers["location"])
        assert match is not None
        run_pk = int(match.group(1))
        with worker(tmp_path, "worker", **ENV):
            wait_for(lambda: outcomes(run_pk)["ok"] >= 20, 60, "the run to be under way")
            server.process.send_signal(signal.SIGHUP)  # a deploy: gunicorn replaces its workers
            wait_for(lambda: BulkRun.objects.get(pk=run_pk).state == "done", 60, "the run to end")
        page = http.get(f"/bulk/{run_pk}/")
        shown = text(page.text)
        assert "Done: 150 archived, 0 failed of 150." in shown, shown[:600]
        assert server.process.poll() is None  # reloaded, not stopped
    assert_complete(run_pk, fake, 150)
