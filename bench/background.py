"""Figures about background work (issue 13): how long a user waits for a worker to start, and
how long a bulk archive takes on the workers.

Each function measures one figure through the Harness (bench.harness) and records it with
``Harness.add``. The worker is a real ``manage.py db_worker`` process on the benchmark's
database, started as production runs it (its default one-second poll).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Max, Min

from bench.harness import ROOT, Figure, Harness
from dashboard.models import ActionAttempt, BulkItem, BulkRun, Session, SyncRun

GOAL_SECONDS = 1.5


def sync_now_latency(h: Harness) -> None:
    """Enqueue-to-start latency of a Sync now on an idle worker: from the moment the press
    queued the task (its enqueued_at) to the moment the worker claimed the run and began (the
    run's started_at), both written to the database by the processes that did them."""
    reps = 7 if h.plan.quick else 21
    h.step(f"Sync now: enqueue-to-start latency on an idle worker, {reps} presses")
    log = (h.data_dir / "db_worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    rng = random.Random(13)
    samples: list[float] = []
    try:
        h.http.get("/").raise_for_status()  # the CSRF cookie
        headers = {**h.csrf_headers, "HX-Request": "true"}
        time.sleep(2)  # the worker is up and idle, waiting on its poll
        for _ in range(reps):
            # Presses land at any point of the worker's poll interval, not in step with it.
            time.sleep(rng.uniform(0.2, 1.2))
            h.http.post(f"/orgs/{h.org.pk}/sync/", headers=headers).raise_for_status()
            run = SyncRun.objects.filter(org=h.org).latest("started_at")
            run = _wait_ended(run, worker)
            enqueued = _enqueued_at(run.task_id)
            samples.append((run.started_at - enqueued).total_seconds())
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    value = statistics.median(samples)
    h.add(
        Figure(
            "13.sync_now_start",
            "Enqueue-to-start latency of a Sync now on an idle worker",
            value,
            "s",
            f"≤ {GOAL_SECONDS:g} s",
            value <= GOAL_SECONDS,
            f"median; slowest {max(samples):.2f} s; db_worker's default 1 s poll, "
            f"{connection.vendor}; press via gunicorn, times from the database",
            len(samples),
        )
    )


def _wait_ended(run: SyncRun, worker: subprocess.Popen[bytes]) -> SyncRun:
    deadline = time.monotonic() + 300
    while run.state in SyncRun.ACTIVE:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not run sync run {run.pk}; see db_worker.log")
        time.sleep(0.05)
        run.refresh_from_db()
    if run.state != SyncRun.State.OK:
        raise RuntimeError(f"sync run {run.pk} failed: {run.error}")
    return run


def _enqueued_at(task_id: str) -> datetime:
    from django_tasks_db.models import DBTaskResult

    enqueued: datetime = DBTaskResult.objects.values_list("enqueued_at", flat=True).get(id=task_id)
    return enqueued


# -- bulk archive on the workers ---------------------------------------------------------------

BULK_LATENCY = 0.1
BULK_WORKERS = 2
BULK_TAG = "bench-bulk"


@contextmanager
def db_workers(h: Harness, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` db_worker processes on the benchmark's database, ready when the block starts."""
    logs = [h.data_dir / f"worker-{n}.log" for n in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--worker-id", f"bench-{n}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n, log in enumerate(logs)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all("Starting worker" in _read(log) for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"the workers did not start; see {h.data_dir}/worker-*.log")
            time.sleep(0.1)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc; 0 elsewhere)."""
    return cpu_seconds_of([process.pid for process in processes])


def cpu_seconds_of(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def bulk_archive_on_workers(h: Harness) -> None:
    """Bulk archive of 1,000 sessions (QUICK: 200) at 100 ms per call with 2 workers: from the
    POST to the run marked done, and the most archive calls in flight at the fake (one run: its
    own). The goal, 15 s for 1,000, scales with the count: 1.2 times the bound."""
    count, limit = h.plan.bulk_sessions, settings.BULK_CONCURRENCY
    h.step(f"bulk archive of {count:,} sessions on {BULK_WORKERS} workers, 100 ms per call")
    active = Session.objects.filter(is_archived=False).order_by("pk")
    ids = list(active.values_list("pk", flat=True)[:count])
    if len(ids) < count:
        raise RuntimeError(f"only {len(ids)} active sessions to archive; {count} needed")
    # "Archive all N matching" a tag filter, as a person would for this many (1,000 ids in one
    # form would pass Django's DATA_UPLOAD_MAX_NUMBER_FIELDS): the dashboard's copy is tagged.
    Session.objects.filter(pk__in=ids).update(tags_text=f"|{BULK_TAG}|")
    with db_workers(h, BULK_WORKERS) as workers:
        h.http.get("/").raise_for_status()  # the CSRF cookie
        cpu_before, load = cpu_seconds(workers), os.getloadavg()[0]
        h.fake.latency = BULK_LATENCY
        h.fake.reset_stats()
        try:
            started = time.perf_counter()
            response = h.http.post(
                "/sessions/bulk-archive/",
                data={"scope": "filter", "tag": BULK_TAG},
                headers=h.csrf_headers,
            )
            if response.status_code != 302:
                raise RuntimeError(f"bulk archive answered {response.status_code}")
            run_pk = int(response.headers["location"].rstrip("/").rsplit("/", 1)[1])
            deadline = time.monotonic() + 180
            while BulkRun.objects.filter(pk=run_pk, state=BulkRun.State.RUNNING).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the bulk archive did not finish in 3 minutes")
                time.sleep(0.05)
            wall = time.perf_counter() - started
            cpu = cpu_seconds(workers) - cpu_before
        finally:
            h.fake.latency = 0.0
    peak = h.fake.peak_in_flight
    run = BulkRun.objects.get(pk=run_pk)
    calls_span = ActionAttempt.objects.filter(bulk_item__run=run).aggregate(
        first=Min("started_at"), last=Max("settled_at")
    )
    queued = (calls_span["first"] - run.started_at).total_seconds()
    calling = (calls_span["last"] - calls_span["first"]).total_seconds()
    outcomes = Counter(BulkItem.objects.filter(run_id=run_pk).values_list("outcome", flat=True))
    calls = Counter(method for method, _ in h.fake.calls)
    bound = count * BULK_LATENCY / limit
    goal = 15 * count / 1_000
    h.add(
        Figure(
            "13.bulk.wall",
            f"Bulk archive of {count:,} on {BULK_WORKERS} workers, 100 ms per call",
            wall,
            "s",
            f"≤ {goal:g} s (bound: {count:,} × 100 ms ÷ {limit} = {bound:.1f} s)",
            wall <= goal and outcomes.get("ok", 0) == count,
            f"outcomes {dict(outcomes)}; calls {dict(calls)}; from the POST to the run marked "
            f"done, through gunicorn, the task queue and the workers: {queued:.1f} s to the first "
            f"call, {calling:.1f} s from the first call to the last settled; the workers used "
            f"{cpu:.1f} s of CPU; load average {load:.1f} at the start",
        )
    )
    h.add(
        Figure(
            "13.bulk.peak",
            "Bulk archive on workers, peak calls in flight at the fake",
            peak,
            "",
            f"≤ {limit} (DASHBOARD_BULK_CONCURRENCY)",
            peak <= limit,
        )
    )
