"""Background work with real processes, as an operator meets it: `db_worker` processes killed
(SIGKILL) or stopped (SIGTERM) mid-sync, the scheduler recovering what they left, Sync now pressed
by two users while the scheduler runs, and a hung Devin API behind a real gunicorn.

Every child process uses this test's database (tests/workers.py), so the data is committed
(transactional_db / live_server). Leases are short here (DASHBOARD_RUN_LEASE) so that recovery
is measured in seconds, not minutes.
"""

from __future__ import annotations

import html
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from dashboard import recovery, sync
from dashboard.models import Session, SyncRun
from fakedevin import FakeDevin
from tests.workers import Process, gunicorn, start_worker, wait_for, worker

LEASE = 3.0
TICK = 0.3
SHORT_LEASE = {"DASHBOARD_RUN_LEASE": f"{LEASE:g}"}
SCHEDULER = ["sync_sessions", "--loop", "--interval", "3600", "--tick", f"{TICK:g}"]


@pytest.fixture
def fake() -> Iterator[FakeDevin]:
    """Enough sessions for a sync of ten pages or so (200 a page), each page slowed down."""
    orgs = {"org-acme": "Acme", "org-globex": "Globex"}
    with FakeDevin(seed=7, sessions_per_org=1800, orgs=orgs) as server:
        server.start()
        yield server


def slow_pages(fake: FakeDevin, seconds: float) -> None:
    fake.inject("latency", count=None, seconds=seconds, method="GET", path="/sessions")


def run_of(org: Any, **filters: Any) -> SyncRun | None:
    return SyncRun.objects.filter(org=org, **filters).order_by("-started_at").first()


def assert_every_session_stored_once(fake: FakeDevin, org: Any) -> None:
    stored = list(Session.objects.filter(org=org).values_list("session_id", flat=True))
    assert len(stored) == len(set(stored))
    assert set(stored) == {s["session_id"] for s in fake.sessions(org.org_id)}


@pytest.mark.django_db(transaction=True)
def test_a_full_sync_killed_midway_is_recovered_and_the_next_run_completes(
    tmp_path: Path, fake: FakeDevin, acme: Any
) -> None:
    slow_pages(fake, 1.0)
    scheduler = Process(SCHEDULER, tmp_path / "scheduler.log", **SHORT_LEASE)
    first = start_worker(tmp_path, "first", **SHORT_LEASE)
    try:
        # The scheduler queues the org's first (full) sync; the worker takes it.
        run = wait_for(lambda: run_of(acme, state="running", pages__gte=2), 60, "a sync mid-way")
        assert isinstance(run, SyncRun) and run.full
        # Held for longer than a lease: the worker renews it, so recovery leaves it alone.
        time.sleep(LEASE + 2 * TICK)
        run.refresh_from_db()
        assert run.state == SyncRun.State.RUNNING and run.worker
        first.kill()
        killed = time.monotonic()
        wait_for(lambda: run_of(acme, pk=run.pk, state="failed"), 30, "recovery to end the run")
        noticed = time.monotonic() - killed
        run.refresh_from_db()
        assert run.error == recovery.STOPPED
        assert noticed <= LEASE + 3.0  # within the lease, one pass and a busy machine's slack
        assert run.pages < 10  # it really was cut short

        fake.clear_faults()
        # Recovery queues the next run just after committing the failed one: wait for it.
        queued = wait_for(lambda: run_of(acme, state="queued"), 10, "the next run queued")
        assert isinstance(queued, SyncRun) and queued.full  # no success yet: a full sync again
        with worker(tmp_path, "second", **SHORT_LEASE):
            wait_for(lambda: run_of(acme, pk=queued.pk, state="ok"), 60, "the next run")
        assert_every_session_stored_once(fake, acme)
        assert SyncRun.objects.filter(org=acme).count() == 2
    finally:
        first.stop()
        scheduler.stop()
    assert "queued sync run" in scheduler.output()


@pytest.mark.django_db(transaction=True)
def test_sigterm_hands_the_sync_back_and_another_worker_finishes_it(
    tmp_path: Path, fake: FakeDevin, acme: Any
) -> None:
    slow_pages(fake, 1.0)
    run, _ = sync.request_sync(acme)
    first = start_worker(tmp_path, "first")
    try:
        wait_for(lambda: run_of(acme, state="running", pages__gte=1), 60, "a sync mid-way")
    finally:
        asked = time.monotonic()
        code = first.stop(timeout=20)
    assert code == 0
    assert time.monotonic() - asked < 5  # after the page in flight, not after the whole sync
    run.refresh_from_db()
    assert (run.state, run.worker, run.lease_until) == (SyncRun.State.QUEUED, "", None)
    assert "handed back after" in first.output()

    fake.clear_faults()
    with worker(tmp_path, "second"):
        wait_for(lambda: run_of(acme, pk=run.pk, state="ok"), 60, "the handed-back run")
    assert_every_session_stored_once(fake, acme)


def signed_in(live_server: Any, user: User) -> httpx.Client:
    """An HTTP client of the live server with the user's session and CSRF cookies."""
    client = Client()
    client.force_login(user)
    http = httpx.Client(base_url=live_server.url, timeout=30)
    http.cookies.set(
        settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    http.get("/").raise_for_status()
    http.headers["X-CSRFToken"] = http.cookies["csrftoken"]
    return http


def test_sync_now_pressed_by_two_users_at_once_while_the_loop_runs_is_one_sync(
    live_server: Any, tmp_path: Path, fake: FakeDevin, acme: Any, operator: Any, admin: Any
) -> None:
    slow_pages(fake, 0.5)  # the one sync is still running when the last press lands
    fake.reset_stats()
    clients = [signed_in(live_server, user) for user in (operator, admin)]
    scheduler = Process(SCHEDULER, tmp_path / "scheduler.log")
    try:
        with worker(tmp_path):
            barrier = threading.Barrier(20)

            def press(http: httpx.Client) -> int:
                barrier.wait()
                return http.post(
                    f"/orgs/{acme.pk}/sync/", headers={"HX-Request": "true"}
                ).status_code

            with ThreadPoolExecutor(20) as pool:
                codes = list(pool.map(press, clients * 10))
            assert codes == [200] * 20
            assert SyncRun.objects.filter(org=acme).count() == 1
            wait_for(lambda: run_of(acme, state="ok"), 120, "the one sync")
    finally:
        scheduler.stop()
        for http in clients:
            http.close()
    assert SyncRun.objects.filter(org=acme).count() == 1
    lists = [path for _, path in fake.calls if path == "/v3/organizations/org-acme/sessions"]
    pages = SyncRun.objects.get(org=acme).pages
    assert len(lists) == pages  # every list call was that one sync's page
    assert_every_session_stored_once(fake, acme)


@pytest.mark.django_db(transaction=True)
def test_a_hung_devin_api_does_not_take_the_dashboard_down(
    tmp_path: Path, fake: FakeDevin, acme: Any, operator: Any
) -> None:
    for n in range(20):
        fake.add_session("org-acme", title=f"Live {n}", status="running")
    sync.sync_org(acme)
    live_ids = list(Session.objects.filter(title__startswith="Live ").values_list("pk", flat=True))
    fake.inject("hang", count=None, seconds=30)  # every call, list and get alike
    fake.reset_stats()
    env = {"DASHBOARD_LIVE_REFRESH": "1"}
    deadline = 3.0  # DASHBOARD_ACTION_DEADLINE, short so the test is
    client = Client()
    client.force_login(operator)
    cookie = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    hung_worker = start_worker(tmp_path, "worker", **env)
    stop, measuring = threading.Event(), threading.Event()
    poll_times: list[float] = []
    try:
        web_env = {**env, "DASHBOARD_ACTION_DEADLINE": f"{deadline:g}"}
        with gunicorn(tmp_path / "gunicorn.log", **web_env) as served:
            url = served.url

            def poller() -> None:
                query = "&".join(f"ids={pk}" for pk in live_ids)
                with httpx.Client(base_url=url, cookies=cookie, timeout=30) as http:
                    while not stop.is_set():
                        started = time.perf_counter()
                        response = http.get(f"/sessions/live/?{query}&since={time.time()}")
                        if measuring.is_set():
                            poll_times.append(time.perf_counter() - started)
                        assert response.status_code == 200
                        stop.wait(1.0)  # a page polls once per live interval

            pollers = [threading.Thread(target=poller) for _ in range(10)]
            for thread in pollers:
                thread.start()
            wait_for(lambda: fake.in_flight, 30, "the worker to hang on a call to Devin")
            page_times: list[float] = []
            with httpx.Client(base_url=url, cookies=cookie, timeout=30) as http:
                for _ in range(4):  # both gunicorn workers load their templates first
                    http.get("/").raise_for_status()
                measuring.set()
                for _ in range(10):
                    for path in ("/healthz", "/"):
                        started = time.perf_counter()
                        assert http.get(path).status_code == 200
                        page_times.append(time.perf_counter() - started)
                    time.sleep(0.3)
                # A person's own archive waits on the hung API, but only for its deadline.
                started = time.perf_counter()
                archived = http.post(
                    f"/sessions/{live_ids[0]}/archive/",
                    headers={"HX-Request": "true", "X-CSRFToken": http.cookies["csrftoken"]},
                )
                archive_time = time.perf_counter() - started
            stop.set()
            for thread in pollers:
                thread.join(timeout=30)
    finally:
        stop.set()
        hung_worker.kill()
        fake.clear_faults()
    assert max(page_times) < 1.0, f"slowest page {max(page_times):.2f} s"
    assert archived.status_code == 200
    assert deadline <= archive_time < deadline + 1.5, archive_time
    said = "Sent; Devin did not answer in time; the next sync will show the result."
    assert said in html.unescape(archived.text)
    assert len(poll_times) > 30 and max(poll_times) < 1.0, (
        f"slowest poll {max(poll_times):.2f} s, median {statistics.median(poll_times):.3f} s "
        f"{sorted(poll_times)[-5:]} {sorted(page_times)[-5:]}"
    )
