"""Where the ACUs go: aggregates over one org or several for the insight page, in the database.

Days are UTC dates, so every viewer sees the same buckets. ACUs per day come from what the
dashboard saw (dashboard.acus, the AcuDay rows); for days before it began watching an org, a
session's ACUs count on the day it was created (the fallback, for history). Counts and creation-day
ACUs are read from the daily rollup (dashboard.insightdays), not from the sessions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypedDict

from django.db.models import Min, QuerySet, Sum

from dashboard import insightdays
from dashboard.acumodels import AcuDay, InsightDay
from dashboard.models import Organization, Session
from dashboard.vocabulary import PR_STATES

CHART_WIDTH = 720
CHART_HEIGHT = 180


class Day(TypedDict):
    day: date
    acus: float
    sessions: int
    # Whether its ACUs are the fallback (creation days) rather than what the dashboard saw.
    estimated: bool


class Bar(Day):
    x: float
    width: float
    y: float
    height: float


class CategoryRow(TypedDict):
    category: str
    n: int
    acus: float


def ticks(peak: float, count: int = 5) -> list[float]:
    """Round y-axis values from 0 up to at least `peak`: 0, step, 2·step… with step 1, 2 or 5
    times a power of ten, at most `count` steps."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    steps = math.ceil(peak / step - 1e-9)
    return [round(n * step, 10) for n in range(steps + 1)]


def bars(per_day: list[Day], top: float) -> list[Bar]:
    """Bar geometry for the SVG chart, scaled to the axis' `top` (numbers only)."""
    step = CHART_WIDTH / max(len(per_day), 1)
    out = []
    for n, day in enumerate(per_day):
        height = round(day["acus"] / (top or 1) * CHART_HEIGHT, 1)
        out.append(
            Bar(
                **day,
                x=round(n * step + step * 0.1, 1),
                width=round(step * 0.8, 1),
                y=round(CHART_HEIGHT - height, 1),
                height=height,
            )
        )
    return out


def _rollup(orgs: Sequence[Organization], first_day: date) -> QuerySet[InsightDay]:
    if len(orgs) == 1:  # an equality on the index' first column, not an IN
        return InsightDay.objects.filter(org=orgs[0], day__gte=first_day)
    return InsightDay.objects.filter(org__in=orgs, day__gte=first_day)


def per_day(orgs: Sequence[Organization], first_day: date, days: int) -> list[Day]:
    """ACUs and sessions created per day, over the orgs, from `first_day` for `days` days."""
    watched: dict[int, date] = {
        row["org_id"]: row["first"]
        for row in AcuDay.objects.filter(org__in=orgs)
        .values("org_id")
        .annotate(first=Min("day"))
        .order_by()
    }
    seen: dict[date, float] = dict(
        AcuDay.objects.filter(org__in=orgs, day__gte=first_day)
        .values("day")
        .annotate(total=Sum("acus"))
        .values_list("day", "total")
        .order_by()
    )
    created: dict[date, float] = defaultdict(float)
    sessions: dict[date, int] = defaultdict(int)
    # Every session has one status: the status rows of a day count its sessions once each.
    rows = (
        _rollup(orgs, first_day)
        .filter(kind=insightdays.STATUS)
        .values_list("org_id", "day")
        .annotate(Sum("n"), Sum("acus"))
        .order_by()
    )
    for org_id, day, n, acus in rows:
        sessions[day] += n
        start = watched.get(org_id)
        if start is None or day < start:
            created[day] += acus
    # A day is estimated if some org was not yet watched then.
    latest_start = max((watched.get(org.pk) or date.max for org in orgs), default=date.max)
    out = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        acus = (seen.get(day) or 0.0) + created.get(day, 0.0)
        out.append(Day(day=day, acus=acus, sessions=sessions[day], estimated=day < latest_start))
    return out


def breakdown(orgs: Sequence[Organization], first_day: date) -> dict[str, Any]:
    """Sessions by status, by category (with their ACUs) and by PR state, and the costliest."""
    totals = insightdays.summed(
        _rollup(orgs, first_day)
        .values("kind", "value")
        .annotate(n=Sum("n"), acus=Sum("acus"))
        .order_by()
    )
    by_status = totals[insightdays.STATUS]
    by_pr = totals[insightdays.PR]
    return {
        "by_status": [
            {"status": status, "n": n}
            for status, (n, _) in sorted(by_status.items(), key=lambda item: (-item[1][0], item[0]))
        ],
        "by_category": sorted(
            (
                CategoryRow(category=category, n=n, acus=acus)
                for category, (n, acus) in totals[insightdays.CATEGORY].items()
            ),
            key=lambda c: (-c["acus"], c["category"]),
        ),
        "pr_counts": [
            (state, by_pr.get("" if state == "none" else state, [0])[0])
            for state in [*PR_STATES, "none"]
        ],
        "top": _top(orgs, first_day),
    }


def _top(orgs: Sequence[Organization], first_day: date, n: int = 10) -> list[Session]:
    """The `n` costliest sessions of the window: each org's, merged."""
    names = {org.pk: org for org in orgs}
    top = [session for org in orgs for session in _costliest(org, first_day, n)]
    top.sort(key=lambda s: -s.acus_consumed)
    for session in top[:n]:
        session.org = names[session.org_id]  # no query per row for its name
    return top[:n]


def _costliest(org: Organization, first_day: date, n: int) -> list[Session]:
    # Asked for the window's costliest, SQLite's planner reads the whole window from the
    # session_insight index and sorts it (30 ms an org at 1M sessions). The org's costliest of
    # all time, from its (org, -acus) index, usually include the window's: a few rows. If not
    # (its costliest are older), the database finds them in the window as before.
    costliest = (
        Session.objects.filter(org=org)
        .order_by("-acus_consumed")
        .only("session_id", "title", "status", "acus_consumed", "org_id", "created_day")
    )
    head = list(costliest[: n * 5])
    found = [s for s in head if s.created_day is not None and s.created_day >= first_day]
    if len(found) >= n or len(head) < n * 5:
        return found[:n]
    return list(costliest.filter(created_day__gte=first_day)[:n])
