"""The benchmark's figures apart from the pages (bench.pages), throughput (bench.load) and
background work (bench.background): the full sync that fills the middle size, the bulk inserts
that make the others, the archive, the re-sync and the first load in a browser.

Each takes the ``Harness`` (bench.harness), measures through it and records its figures with
``h.add``; the numbers in each figure's key are those of docs/performance.md.
"""

from __future__ import annotations

import os
import statistics
import time
from urllib.parse import urlsplit

from django.conf import settings

from bench import data
from bench.background import cpu_seconds_of
from bench.harness import Figure, Harness, Size, median_ms
from bench.plan import size_label
from bench.session_page import _children
from dashboard import sync
from dashboard.models import Session, SyncRun

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# -- figure 5: full sync, and the bulk inserts that make the other sizes ----------------------


def full_sync(h: Harness) -> None:
    """Every org's sessions from the fake, synced in full into the middle size's database."""
    size = h.synced
    h.step(f"full sync of {size.n:,} sessions ({len(h.orgs)} orgs) into the {size.label} database")
    result = h.sync_in_child()
    stored = Session.objects.using(size.alias).count()
    if result["state"] != "ok" or stored != size.n:
        raise RuntimeError(f"the sync stored {stored} sessions, not {size.n}: {result}")
    h.add(
        Figure(
            "5.sync",
            f"Full sync, {size.label} sessions in {len(h.orgs)} orgs",
            result["seconds"],
            "s",
            "≤ 20 s",
            result["seconds"] <= 20,
            f"{result['pages']} pages of up to 200, {result['seen']:,} sessions, one org after "
            "another in a child process (timed around the syncs, without interpreter start)",
        )
    )
    h.add(
        Figure(
            "5.rss",
            f"Full sync peak RSS, {size.label} sessions",
            result["peak_rss_mb"],
            "MiB",
            "≤ 150 MB",
            result["peak_rss_mb"] * 1.048576 <= 150,
            "VmHWM of the sync's own process",
        )
    )
    h.fake.reset_stats()


def copies(h: Harness) -> None:
    """The smallest and largest sizes, by bulk insert from the synced one (bench.data)."""
    for size, kwargs in (
        (h.small, {"every": h.synced.n // h.small.n}),
        (h.large, {"copies": h.large.n // h.synced.n}),
    ):
        h.step(f"{size.label} database by bulk insert")
        source = h.source_table(size)
        try:
            seconds = data.copy_sessions(size.alias, source, **kwargs)
        finally:
            h.release_source(size)
        stored = Session.objects.using(size.alias).count()
        if stored != size.n:
            raise RuntimeError(f"the {size.label} database has {stored} sessions")
        h.add(
            Figure(
                f"0.build.{size.label}",
                f"{size.label} database built by bulk insert",
                seconds,
                "s",
                note="rows copied in SQL from the synced database; indexes built afterwards",
            )
        )
    data.settle(h.synced.alias)  # the others were settled after their copy


# -- figure 3: archive overhead -----------------------------------------------------------------


def archive_overhead(h: Harness) -> None:
    """An archive click, against the Devin calls it makes: the archive and the re-read."""
    h.step("archive: the dashboard's POST vs the direct calls (archive + re-read)")
    reps = h.plan.archive_reps
    size = h.synced
    http = h.client(size)
    active = list(
        Session.objects.filter(is_archived=False)
        .order_by("pk")
        .values_list("pk", "session_id", "org_id")[: 2 * reps + 2]
    )
    clients = {org.pk: org.client() for org in h.orgs}
    http.get("/").raise_for_status()  # the CSRF cookie
    headers = {**h.csrf_headers, "HX-Request": "true"}
    ours: list[float] = []
    direct: list[float] = []
    # The server's CPU per click: unlike wall time, hardly moved by the machine's load.
    workers = _children(h.server(size).process.pid)
    cpu = 0.0
    # Warm both paths (connections, code) on sessions that are not timed.
    for pk, session_id, org_pk in active[:2]:
        http.post(f"/sessions/{pk}/archive/", headers=headers).raise_for_status()
        clients[org_pk].archive_session(session_id)
    timed = active[2:]
    for (pk, _, _), (_, other_id, other_org) in zip(timed[:reps], timed[reps:], strict=True):
        cpu_before, started = cpu_seconds_of(workers), time.perf_counter()
        response = http.post(
            f"/sessions/{pk}/archive/", headers={**headers, "HX-Target": f"session-{pk}"}
        )
        ours.append(time.perf_counter() - started)
        cpu += cpu_seconds_of(workers) - cpu_before
        if response.status_code != 200 or "Unarchive" not in response.text:
            raise RuntimeError(f"archive of {pk} failed: {response.status_code}")
        started = time.perf_counter()
        clients[other_org].archive_session(other_id)
        clients[other_org].get_session(other_id)
        direct.append(time.perf_counter() - started)
    # The floor under 3.cpu: a signed-in POST through the same middleware that the view answers
    # 404 after its one read (no session 0): sign-in, CSRF, the session, gunicorn.
    floor_cpu = 0.0
    for _ in range(reps):
        cpu_before = cpu_seconds_of(workers)
        response = http.post("/sessions/0/archive/", headers=headers)
        floor_cpu += cpu_seconds_of(workers) - cpu_before
        if response.status_code != 404:
            raise RuntimeError(f"the floor's POST answered {response.status_code}, not 404")
    overhead = median_ms(ours) - median_ms(direct)
    h.add(
        Figure(
            "3.ours",
            f"Archive via the dashboard (htmx POST), {size.label}",
            median_ms(ours),
            "ms",
            note="archive call, re-read of the session, store, audit, row render",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.cpu",
            "Archive via the dashboard, the server's CPU per click",
            cpu / reps * 1000,
            "ms",
            note=f"gunicorn workers' user+system time (/proc, 10 ms ticks) over the {reps} "
            f"clicks; load average {os.getloadavg()[0]:.1f} at the end",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.floor",
            "A signed-in POST answered 404 by the archive view, the server's CPU per request",
            floor_cpu / reps * 1000,
            "ms",
            note="what every click pays before the view's work: gunicorn, the middleware, "
            "the sign-in and CSRF checks",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.direct",
            "Archive + re-read via DevinClient",
            median_ms(direct),
            "ms",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.overhead",
            "Archive overhead, ours − (archive + re-read)",
            overhead,
            "ms",
            "≤ 10 ms",
            overhead <= 10,
        )
    )


# -- figure 5b: incremental re-sync ---------------------------------------------------------------


def resync(h: Harness) -> None:
    h.step("incremental re-sync of every org, no changes")
    seconds: list[float] = []
    seen = 0
    for _ in range(h.plan.resync_reps):
        started = time.perf_counter()
        seen = 0
        for org in h.orgs:
            run = sync.sync_org(org)
            if run.state != SyncRun.State.OK or run.full:
                raise RuntimeError(f"the re-sync was not an incremental success: {run}")
            seen += run.seen
        seconds.append(time.perf_counter() - started)
    value = statistics.median(seconds)
    h.add(
        Figure(
            "5b.resync",
            f"Incremental re-sync, no changes, {size_label(h.synced.n)} in {len(h.orgs)} orgs",
            value,
            "s",
            "≤ 1 s",
            value <= 1,
            f"{seen} sessions re-listed (the {settings.SYNC_OVERLAP_SECONDS} s overlap); "
            "in this process",
            len(seconds),
        )
    )


# -- figure 6: first load in a browser ----------------------------------------------------------


def first_load(h: Harness, size: Size) -> None:
    h.step(f"first load of the sessions page in headless Chromium, {size.label}")
    from playwright.sync_api import Request, sync_playwright

    url = h.server(size).url
    server_host = urlsplit(url).netloc
    finished: list[Request] = []
    hosts: set[str] = set()
    cookie = size.admin_cookie
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        h.chromium_version = browser.version
        context = browser.new_context()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": url}])
        page = context.new_page()
        page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc or urlsplit(r.url).scheme))
        page.on("requestfinished", lambda r: finished.append(r))
        page.goto(url + "/", wait_until="networkidle")
        network = [r for r in finished if r.url.startswith(("http:", "https:"))]
        sizes = [r.sizes() for r in network]
        rows = page.locator("tr[id^=session-]").count()
        browser.close()
    transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
    detail = ", ".join(
        f"{urlsplit(r.url).path.rsplit('/', 1)[-1] or '/'} {s['responseBodySize'] / 1000:.1f}"
        for r, s in zip(network, sizes, strict=True)
    )
    external = sorted(host for host in hosts if host not in {server_host, "data"})
    h.add(
        Figure(
            "6.bytes",
            "First load: bytes transferred",
            transferred / 1000,
            "kB",
            "≤ 100 kB",
            transferred <= 100_000,
            f"bodies as sent (compressed where served so) plus headers, in kB: {detail}; "
            f"{rows} rows",
        )
    )
    h.add(Figure("6.requests", "First load: requests", len(network), "", "≤ 5", len(network) <= 5))
    h.add(
        Figure(
            "6.external",
            "First load: external hosts",
            len(external),
            "",
            "0",
            not external,
            ", ".join(external),
        )
    )
