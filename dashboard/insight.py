"""Where the ACUs go: aggregates over one org or several for the insight page, in the database.

Days are UTC dates, so every viewer sees the same buckets. ACUs per day come from what the
dashboard saw (dashboard.acus, the AcuDay rows); for days before it began watching an org, a
session's ACUs count on the day it was created (the fallback, for history).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypedDict

from django.db.models import Count, Min, Q, QuerySet, Sum

from dashboard.acumodels import AcuDay
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


def _window(orgs: Sequence[Organization], first_day: date) -> QuerySet[Session]:
    if len(orgs) == 1:  # an equality on the index' first column, not an IN
        return Session.objects.filter(org=orgs[0], created_day__gte=first_day)
    return Session.objects.filter(org__in=orgs, created_day__gte=first_day)


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
    rows = (
        _window(orgs, first_day)
        .values("org_id", "created_day")
        .annotate(acus=Sum("acus_consumed"), n=Count("*"))
        .order_by()
    )
    for row in rows:
        day = row["created_day"]
        if day is None:  # not in the window (created_day >= first_day): for the type checker
            continue
        sessions[day] += row["n"]
        start = watched.get(row["org_id"])
        if start is None or day < start:
            created[day] += row["acus"] or 0.0
    # A day is estimated if some org was not yet watched then.
    latest_start = max((watched.get(org.pk) or date.max for org in orgs), default=date.max)
    out = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        acus = (seen.get(day) or 0.0) + created.get(day, 0.0)
        out.append(Day(day=day, acus=acus, sessions=sessions[day], estimated=day < latest_start))
    return out


def _per_org(orgs: Sequence[Organization], first_day: date) -> list[QuerySet[Session]]:
    # One query per org, each an equality on the session_insight index' first column: with an
    # IN, SQLite's planner picks the status index for the GROUP BY and reads every row (1.8 s
    # at 100k sessions in 10 orgs, against ~40 ms).
    return [Session.objects.filter(org=org, created_day__gte=first_day) for org in orgs]


def breakdown(orgs: Sequence[Organization], first_day: date) -> dict[str, Any]:
    """Sessions by status, by category (with their ACUs) and by PR state, and the costliest."""
    # Status, category and PR states in one pass over the index (one GROUP BY of at most a few
    # hundred groups per org, the orgs' as one UNION ALL), summed up here, rather than three.
    by_status: dict[str, int] = defaultdict(int)
    by_category: dict[str, CategoryRow] = {}
    pr_counts: dict[str, int] = defaultdict(int)
    pr_columns = {
        "none": Q(pr_states=""),
        **{state: Q(pr_states__contains=f"|{state}|") for state in PR_STATES},
    }
    parts = [
        window.values("status", "category")
        .annotate(
            n=Count("*"),
            acus=Sum("acus_consumed"),
            **{f"pr_{name}": Count("pr_states", filter=q) for name, q in pr_columns.items()},
        )
        .order_by()
        for window in _per_org(orgs, first_day)
    ]
    groups = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    for row in groups:
        # Its pr_* keys are made at run time from PR_STATES: no closer type than Any.
        group: dict[str, Any] = dict(row)
        by_status[group["status"]] += group["n"]
        category = by_category.setdefault(
            group["category"], CategoryRow(category=group["category"], n=0, acus=0.0)
        )
        category["n"] += group["n"]
        category["acus"] += group["acus"] or 0.0
        for name in pr_columns:
            pr_counts[name] += group[f"pr_{name}"]
    return {
        "by_status": [
            {"status": status, "n": n}
            for status, n in sorted(by_status.items(), key=lambda item: (-item[1], item[0]))
        ],
        "by_category": sorted(by_category.values(), key=lambda c: (-c["acus"], c["category"])),
        "pr_counts": [(state, pr_counts[state]) for state in [*PR_STATES, "none"]],
        "top": _top(orgs, first_day),
    }


def _top(orgs: Sequence[Organization], first_day: date, n: int = 10) -> list[Session]:
    """The `n` costliest sessions of the window: each org's from its (org, -acus) index, merged."""
    names = {org.pk: org for org in orgs}
    top: list[Session] = []
    for window in _per_org(orgs, first_day):
        top += window.order_by("-acus_consumed").only(
            "session_id", "title", "status", "acus_consumed", "org_id"
        )[:n]
    top.sort(key=lambda s: -s.acus_consumed)
    for session in top[:n]:
        session.org = names[session.org_id]  # no query per row for its name
    return top[:n]
