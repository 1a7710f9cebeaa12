"""The page figures: every view of the sessions page at every size, timed interleaved.

Each URL is fetched from the three servers in turn (10k, 100k, 1M), URL after URL, round after
round, so a burst of load from elsewhere on the machine hits every size and every page alike.
The goals (issue #19) are for the largest size: each view within a time, and within a ratio of
the same view at the smallest size.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections

from bench.harness import Figure, Harness, Size, median_ms, p90_ms
from dashboard import filters
from dashboard.models import Session

RARE_TAG = "tag_rare"  # a tag no session carries (the seed's ten are all common)
# Which views, as query strings; a value per filter, each a common one that fills a page at every
# size (the seed's mix: running ~25% of sessions, waiting_for_user ~4%, bug_fixing ~7%,
# archived ~15%, PR merged ~20%, tag "urgent" ~17%, slack ~25%).
VIEWS = {
    # The first view with sessions: Needs attention (the seed's waiting, erring and finished
    # sessions with an open PR), with the counts of every view and of its status chips.
    "default": "",
    "all": "view=all",
    "running_view": "view=running",
    "status": "status=running",
    "detail": "detail=waiting_for_user",
    "category": "category=bug_fixing",
    "archived": "archived=archived",
    "pr": "pr=merged",
    "tag": "tag=urgent",
    RARE_TAG: "tag=nosuchtag",
    "origin": "origin=slack",
    "selective": "status=running&pr=open",
    "sort_created": "sort=created",
    "sort_acus": "sort=acus",
    "search_word": "q=flaky",
}
ORG_VIEW = "org"  # org=<the fourth org>; its pk is known once the orgs exist
RARE = "search_id"  # q=<a fragment of one session's id>
DEEP = "deep"  # page N of the default view, through the keyset cursor; also per sort
ADMIN = "admin"
# What `run.py --only search` times: the views whose queries issue 19 found growing, and one that
# is flat for comparison.
SEARCH_VIEWS = ("default", "tag", RARE_TAG, "search_word", RARE)
INSIGHT = "insight"
INSIGHT_ALL = "insight_all"  # every org's, summed
# The admin's changelist with the same rows: active sessions, newest update first (bench/urls.py).
ADMIN_URL = "/bench-admin/dashboard/session/?is_archived__exact=0"
PAGE_SIZE_GOAL = {"sqlite": 50.0, "postgresql": 60.0}
RATIO_GOAL = 1.3


def page_urls(h: Harness) -> dict[str, dict[str, str]]:
    """{view key: {size alias: URL}}; most URLs are the same at every size, page N's differ."""
    same: dict[str, str] = {key: f"/?{query}" if query else "/" for key, query in VIEWS.items()}
    same[ORG_VIEW] = f"/?org={h.orgs[3].pk}"
    same[RARE] = f"/?q={_rare_fragment(h.small)}"
    same[ADMIN] = ADMIN_URL
    same[INSIGHT] = f"/insight/{h.orgs[0].pk}/?days=90"
    same[INSIGHT_ALL] = "/insight/all/?days=90"
    urls = {key: {size.alias: url for size in h.sizes} for key, url in same.items()}
    for sort in filters.SORTS:
        key = DEEP if sort == "updated" else f"{DEEP}_{sort}"
        urls[key] = {size.alias: _deep_url(h, size, sort) for size in h.sizes}
    return urls


def _rare_fragment(size: Size) -> str:
    """Eight hex digits from the middle of one active session's id, in every size's data."""
    session = Session.objects.using(size.alias).filter(is_archived=False).order_by("pk")[123]
    return session.session_id[12:20]


def _deep_url(h: Harness, size: Size, sort: str) -> str:
    """The link to page `deep_page` of the view sorted by `sort`: the cursor of the row before."""
    keyset = filters.SORT_KEYSETS[sort]
    active = Session.objects.using(size.alias).filter(is_archived=False)
    before = keyset.order(active)[(h.plan.deep_page - 1) * settings.SESSIONS_PER_PAGE - 1]
    query = f"after={keyset.cursor(before)}&view=all"
    query += "" if sort == "updated" else f"&sort={sort}"
    return f"/?{query}"


def _check(key: str, html: str, *, quick: bool) -> None:
    """A page compared across sizes must show what it claims, or the comparison means nothing.
    (QUICK's 1k sessions have fewer than a page of some filters' values: any rows will do.)"""
    if key in (INSIGHT, INSIGHT_ALL):
        # A day before the org was watched is drawn as an estimate (class="bar estimated").
        if len(re.findall(r'class="bar(?: estimated)?"><title>', html)) != 90:
            raise RuntimeError("the insight page does not chart 90 days")
        return
    if key == ADMIN:
        rows = html.count('name="_selected_action"')
    else:
        rows = len(re.findall(r'<tr id="session-\d+"', html))
    expected = {RARE: 1, RARE_TAG: 0}.get(key, settings.SESSIONS_PER_PAGE)
    if rows != expected and not (quick and rows):
        raise RuntimeError(f"the {key} page shows {rows} rows, not {expected}")


def pages(h: Harness, only: tuple[str, ...] = ()) -> None:
    """Every view (or `only` these) at every size, interleaved; medians per view and size, then
    the goals."""
    urls = {key: by_size for key, by_size in page_urls(h).items() if not only or key in only}
    h.step(f"time {len(urls)} views at {', '.join(s.label for s in h.sizes)}, interleaved")
    wire: dict[tuple[str, str], int] = {}
    queries: dict[tuple[str, str], str] = {}
    for key, by_size in urls.items():
        for size in h.sizes:
            _, response = h.fetch_counted(size, by_size[size.alias])
            _check(key, response.text, quick=h.plan.quick)
            queries[key, size.alias] = response.headers.get("X-Bench-Queries", "?")
    for _ in range(h.plan.warmup):
        for by_size in urls.values():
            for size in h.sizes:
                h.fetch(size, by_size[size.alias])
    samples: dict[tuple[str, str], list[float]] = {
        (key, size.alias): [] for key in urls for size in h.sizes
    }
    for _ in range(h.plan.page_reps):
        for key, by_size in urls.items():
            for size in h.sizes:
                seconds, response = h.fetch(size, by_size[size.alias])
                samples[key, size.alias].append(seconds)
                wire[key, size.alias] = len(response.content)
    for size in h.sizes:
        h.page_times[size.alias] = {key: samples[key, size.alias] for key in urls}
        for key in urls:
            times = samples[key, size.alias]
            h.add(
                Figure(
                    f"1.{key}.{size.label}",
                    f"{_label(key)}, {size.label}",
                    median_ms(times),
                    "ms",
                    note=f"{urls[key][size.alias][:80]}; p90 {p90_ms(times):.1f} ms; "
                    f"{queries[key, size.alias]} SQL queries",
                    samples=len(times),
                )
            )
    _goals(h, [key for key in urls if key not in (ADMIN, INSIGHT, INSIGHT_ALL)], only)


def _label(key: str) -> str:
    if key == ADMIN:
        return "Admin changelist, same rows"
    if key == INSIGHT:
        return "Insight page, 90 days, one org"
    if key == INSIGHT_ALL:
        return "Insight page, 90 days, all orgs"
    if key.startswith(DEEP):
        return f"Sessions page, page N via the cursor ({key})"
    return f"Sessions page, {key} ({VIEWS.get(key) or key})"


def _goals(h: Harness, keys: list[str], only: tuple[str, ...] = ()) -> None:
    small, middle, large = h.small.alias, h.synced.alias, h.large.alias
    times = h.page_times
    limit = PAGE_SIZE_GOAL[connections["default"].vendor]
    for key in keys:
        at_large = median_ms(times[large][key])
        ratio = at_large / median_ms(times[small][key])
        h.add(
            Figure(
                f"1.{key}.goal",
                f"{_label(key)} at {h.large.label}",
                at_large,
                "ms",
                f"median ≤ {limit:.0f} ms",
                at_large <= limit,
            )
        )
        h.add(
            Figure(
                f"1.{key}.ratio",
                f"{_label(key)}, {h.large.label}/{h.small.label}",
                ratio,
                "×",
                f"≤ {RATIO_GOAL}",
                ratio <= RATIO_GOAL,
            )
        )
    if only:  # a partial run (run.py --only search) has no admin or insight times
        return
    for alias, label in ((middle, h.synced.label), (large, h.large.label)):
        ratio = median_ms(times[alias]["default"]) / median_ms(times[alias][ADMIN])
        h.add(
            Figure(
                f"2.ratio.{label}",
                f"Sessions page / admin changelist at {label}",
                ratio,
                "×",
                "≤ 0.5",
                ratio <= 0.5,
                "same 50 rows (active, newest update first), both signed in as a site admin",
            )
        )
    for key, name, whose, goal in (
        (INSIGHT, "insight", f"one org of {h.large.n // 10:,}", 100),
        (INSIGHT_ALL, "insight_all", f"all {len(h.orgs)} orgs", 150),
    ):
        ms = median_ms(times[large][key])
        h.add(
            Figure(
                f"9.{name}.goal",
                f"Insight page (90 days, {whose}) at {h.large.label}",
                ms,
                "ms",
                f"median ≤ {goal} ms",
                ms <= goal,
                "read from the daily rollup (dashboard.insightdays), built after the bulk copy",
            )
        )


def counters(h: Harness) -> None:
    """The two counts every page makes, timed in this process against each size's database:
    the header's active sessions and the results' matches (for a common search word)."""
    h.step("time the header counter and the results count")
    org_pks = [org.pk for org in h.orgs]
    word = filters.SessionFilters({"q": "flaky"}, org_pks=None)

    def header(using: str) -> object:
        active = Session.objects.using(using).filter(org_id__in=org_pks, is_archived=False)
        return filters.capped_count(active)

    def results(using: str) -> object:
        mine = Session.objects.using(using).filter(org_id__in=org_pks)
        return word.apply_counted(mine)[1]  # as the sessions view counts

    limit = PAGE_SIZE_GOAL[connections["default"].vendor]
    for key, count in (("header_count", header), ("results_count", results)):
        medians = _time_in_process(h, count)
        for size in h.sizes:
            h.add(
                Figure(
                    f"1.{key}.{size.label}",
                    f"{key.replace('_', ' ').capitalize()}, {size.label}",
                    medians[size.alias],
                    "ms",
                    note="in-process query time (no HTTP)",
                    samples=h.plan.count_reps,
                )
            )
        at_large = medians[h.large.alias]
        ratio = at_large / medians[h.small.alias]
        h.add(
            Figure(
                f"1.{key}.goal",
                f"{key.replace('_', ' ').capitalize()} at {h.large.label}",
                at_large,
                "ms",
                f"median ≤ {limit:.0f} ms; {h.large.label}/{h.small.label} ≤ {RATIO_GOAL}",
                at_large <= limit and ratio <= RATIO_GOAL,
                f"{h.large.label}/{h.small.label} = {ratio:.2f}",
            )
        )


def _time_in_process(h: Harness, count: Callable[[str], object]) -> dict[str, float]:
    """Median milliseconds of `count` per size, the sizes interleaved."""
    samples: dict[str, list[float]] = {size.alias: [] for size in h.sizes}
    for rep in range(h.plan.count_reps + 1):
        for size in h.sizes:
            started = time.perf_counter()
            count(size.alias)
            if rep:  # the first round warms up
                samples[size.alias].append(time.perf_counter() - started)
    return {alias: median_ms(times) for alias, times in samples.items()}
