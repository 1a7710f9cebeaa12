"""Figures about background work (issue 13): how long a user waits for a worker to start.

Each function measures one figure through the Harness (bench.harness) and records it with
``Harness.add``. The worker is a real ``manage.py db_worker`` process on the benchmark's
database, started as production runs it (its default one-second poll).
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from datetime import datetime

from django.db import connection

from bench.harness import ROOT, Figure, Harness
from dashboard.models import SyncRun

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
