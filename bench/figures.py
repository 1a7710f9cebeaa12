"""The benchmark's figures: one function per measurement, called in order by bench.run.

Each takes the ``Harness`` (bench.harness), measures through it and records its figures with
``h.add``; the numbers in each figure's key are those of docs/performance.md.
"""

from __future__ import annotations

import re
import statistics
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.harness import Figure, Harness, median_ms, size_label
from dashboard import sync
from dashboard.models import BulkItem, BulkRun, Session, SyncRun

# The goal's selective filter (status + PR state): ~7% of sessions, so it fills a page of 50 at
# every size and the sizes compare like with like.
SELECTIVE = "status=running&pr=open"
# Shown without a goal: a rarer one (~1%: at 1k it shows 12 rows, not 50), and a text search
# (title or id contains), which no index serves.
RARE = "status=error&pr=merged"
SEARCH = "q=flaky"
PAGE_LABELS = {
    "default": "Sessions page, default view",
    "selective": f"Sessions page, {SELECTIVE}",
    "rare": f"Sessions page, {RARE} (no goal)",
    "search": f"Sessions page, {SEARCH} (no goal)",
    "admin": "Admin changelist, same rows",
    "insight": "Insight page, 90 days",
}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# -- figure 5: full sync ----------------------------------------------------------------------


def full_sync(h: Harness, size: int) -> None:
    """A fresh fake with ``size`` sessions, synced in full into emptied tables."""
    h.step(f"{size:,} sessions: generate, full sync")
    started = time.perf_counter()
    fake = h.use_fake(size)
    generated = time.perf_counter() - started
    BulkItem.objects.all().delete()
    BulkRun.objects.all().delete()
    Session.objects.all().delete()
    SyncRun.objects.all().delete()
    result = h.sync_in_child("full")
    if result["state"] != "ok" or Session.objects.count() != size:
        raise RuntimeError(f"the sync did not store {size} sessions: {result}")
    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of a bulk load: without it, PostgreSQL's
        # index-only scans (every COUNT) visit the heap row by row. Timed: the steady state.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE dashboard_session")
    last = size == h.plan.sizes[-1]
    note = (
        f"{result['pages']} pages of up to 200, {result['seen']:,} sessions, in a child "
        f"process (timed around sync_org, without interpreter start); fake's data made in "
        f"{generated:.1f} s"
    )
    h.add(
        Figure(
            f"5.sync.{size}",
            f"Full sync, {size_label(size)} sessions",
            result["seconds"],
            "s",
            "≤ 60 s at 100k" if last else "",
            result["seconds"] <= 60 if last else None,
            note,
        )
    )
    h.add(
        Figure(
            f"5.rss.{size}",
            f"Full sync peak RSS, {size_label(size)} sessions",
            result["peak_rss_mb"],
            "MiB",
            "≤ 300 MB at 100k" if last else "",
            result["peak_rss_mb"] * 1.048576 <= 300 if last else None,
            "VmHWM of the sync's own process",
        )
    )
    fake.reset_stats()


# -- figures 1, 2 and 9: the sessions page, the admin changelist, the insight page ------------


def _page_urls(h: Harness) -> dict[str, str]:
    return {
        "default": "/",
        "selective": f"/?{SELECTIVE}",
        "rare": f"/?{RARE}",
        "search": f"/?{SEARCH}",
        # The admin's changelist with the same rows: active sessions, newest update first.
        "admin": "/bench-admin/dashboard/session/?is_archived__exact=0",
        # Over the widest window: every seeded session is in it.
        "insight": f"/insight/{h.org.pk}/?days=90",
    }


def _check_rows(key: str, html: str) -> None:
    """The compared pages must show a full page of rows, or the comparison means nothing."""
    if key == "insight":
        if html.count('class="bar"><title>') != 90:
            raise RuntimeError("the insight page does not chart 90 days")
        return
    if key == "admin":
        rows = html.count('name="_selected_action"')
    else:
        rows = len(re.findall(r'<tr id="session-\d+"', html))
    expected = settings.SESSIONS_PER_PAGE
    if key in {"rare", "search"}:
        expected = min(expected, rows)  # these may match fewer at small sizes
        if rows == 0:
            raise RuntimeError(f"the {key} page matched nothing")
    if rows != expected:
        raise RuntimeError(f"the {key} page shows {rows} rows, not {expected}")


def pages(h: Harness, size: int) -> None:
    """Each page's median time at this size; the times and query counts stay for page_goals."""
    h.step(f"{size:,} sessions: time the pages")
    urls = _page_urls(h)
    counts: dict[str, int] = {}
    for key, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            page = h.client.get(url)
        if page.status_code != 200:
            raise RuntimeError(f"{url} answered {page.status_code}")
        counts[key] = len(queries.captured_queries)
        _check_rows(key, page.content.decode())
    h.query_counts[size] = counts
    for _ in range(h.plan.warmup):
        for url in urls.values():
            h.fetch(url)
    samples: dict[str, list[float]] = {key: [] for key in urls}
    wire: dict[str, int] = {}
    # Interleaved, so a burst of load from elsewhere hits every URL alike.
    for _ in range(h.plan.page_reps):
        for key, url in urls.items():
            seconds, wire[key] = h.fetch(url)
            samples[key].append(seconds)
    h.page_times[size] = samples
    for key, label in PAGE_LABELS.items():
        number = {"admin": "2", "insight": "9"}.get(key, "1")
        h.add(
            Figure(
                f"{number}.{key}.{size}",
                f"{label}, {size_label(size)}",
                median_ms(samples[key]),
                "ms",
                note=f"{counts[key]} SQL queries; p90 "
                f"{statistics.quantiles(samples[key], n=10)[-1] * 1000:.1f} ms; "
                f"{wire[key] / 1000:.1f} kB on the wire",
                samples=len(samples[key]),
            )
        )


def page_goals(h: Harness) -> None:
    """The page goals at the largest size, and how the pages scale from the smallest."""
    sizes = h.plan.sizes
    small, large = sizes[0], sizes[-1]
    times = h.page_times
    for key in ("default", "selective"):
        at_large = median_ms(times[large][key])
        h.add(
            Figure(
                f"1.{key}.goal",
                f"Sessions page {key} at {size_label(large)}",
                at_large,
                "ms",
                "median ≤ 50 ms",
                at_large <= 50,
            )
        )
        ratio = at_large / median_ms(times[small][key])
        h.add(
            Figure(
                f"1.{key}.ratio",
                f"Sessions page {key}, {size_label(large)}/{size_label(small)} time",
                ratio,
                "×",
                "≤ 1.5",
                ratio <= 1.5,
            )
        )
        counts = [h.query_counts[size][key] for size in sizes]
        h.add(
            Figure(
                f"1.{key}.queries",
                f"Sessions page {key}, SQL queries at {', '.join(map(size_label, sizes))}",
                " / ".join(map(str, counts)),
                "",
                "the same at every size",
                len(set(counts)) == 1,
            )
        )
    insight = median_ms(times[large]["insight"])
    h.add(
        Figure(
            "9.insight.goal",
            f"Insight page (90 days) at {size_label(large)}",
            insight,
            "ms",
            "median ≤ 100 ms",
            insight <= 100,
            "aggregates over every session of the org, computed in the database",
        )
    )
    ratio = median_ms(times[large]["default"]) / median_ms(times[large]["admin"])
    h.add(
        Figure(
            "2.ratio",
            f"Sessions page / admin changelist at {size_label(large)}",
            ratio,
            "×",
            "≤ 0.5",
            ratio <= 0.5,
            "same 50 rows (active, newest update first), both signed in as a site admin",
        )
    )


# -- figure 5b: incremental re-sync -----------------------------------------------------------


def resync(h: Harness) -> None:
    h.step("incremental re-sync with no changes")
    seconds: list[float] = []
    seen = 0
    for _ in range(h.plan.resync_reps):
        started = time.perf_counter()
        run = sync.sync_org(h.org)
        seconds.append(time.perf_counter() - started)
        if run.state != SyncRun.State.OK or run.full:
            raise RuntimeError(f"the re-sync was not an incremental success: {run}")
        seen = run.seen
    value = statistics.median(seconds)
    h.add(
        Figure(
            "5b.resync",
            f"Incremental re-sync, no changes, {size_label(h.plan.sizes[-1])}",
            value,
            "s",
            "≤ 1 s",
            value <= 1,
            f"{seen} sessions re-listed (the {settings.SYNC_OVERLAP_SECONDS} s overlap); "
            "in this process",
            len(seconds),
        )
    )


# -- figure 3: archive overhead ---------------------------------------------------------------


def archive_overhead(h: Harness) -> None:
    h.step("archive: the dashboard's POST vs a direct client call")
    reps = h.plan.archive_reps
    active = list(
        Session.objects.filter(is_archived=False)
        .order_by("pk")
        .values_list("pk", "session_id")[: 2 * reps]
    )
    client = h.org.client()
    h.http.get("/").raise_for_status()  # the CSRF cookie
    headers = {**h.csrf_headers, "HX-Request": "true"}
    ours: list[float] = []
    direct: list[float] = []
    # Warm both paths (connections, code) on sessions that are not timed.
    warm = Session.objects.filter(is_archived=False).order_by("-pk")
    for pk, session_id in warm.values_list("pk", "session_id")[:2]:
        h.http.post(f"/sessions/{pk}/archive/", headers=headers).raise_for_status()
        client.archive_session(session_id)
    for (pk, _), (_, other_id) in zip(active[:reps], active[reps:], strict=True):
        started = time.perf_counter()
        response = h.http.post(
            f"/sessions/{pk}/archive/",
            headers={**headers, "HX-Target": f"session-{pk}"},
        )
        ours.append(time.perf_counter() - started)
        if response.status_code != 200 or "Unarchive" not in response.text:
            raise RuntimeError(f"archive of {pk} failed: {response.status_code}")
        started = time.perf_counter()
        client.archive_session(other_id)
        direct.append(time.perf_counter() - started)
    overhead = median_ms(ours) - median_ms(direct)
    h.add(
        Figure(
            "3.ours",
            "Archive via the dashboard (htmx POST)",
            median_ms(ours),
            "ms",
            note="archive call, re-read of the session, store, audit, row render",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.direct",
            "Archive via DevinClient.archive_session",
            median_ms(direct),
            "ms",
            samples=reps,
        )
    )
    h.add(
        Figure(
            "3.overhead",
            "Archive overhead, ours − direct",
            overhead,
            "ms",
            "≤ 10 ms",
            overhead <= 10,
        )
    )


# -- figure 4: bulk archive -------------------------------------------------------------------


def first_load(h: Harness) -> None:
    h.step("first load of the sessions page in headless Chromium")
    from playwright.sync_api import Request, sync_playwright

    url = h.server.url
    server_host = urlsplit(url).netloc
    finished: list[Request] = []
    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        h.chromium_version = browser.version
        context = browser.new_context()
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": h.session_cookie, "url": url}]
        )
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
