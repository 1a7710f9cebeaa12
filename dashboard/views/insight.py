"""Where the ACUs go: per-org aggregates over the last 30 or 90 days, computed in the database."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from typing import Any, TypedDict

from django.db.models import Count, Q, Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.access import org_for_user, visible_orgs
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import Session
from dashboard.vocabulary import PR_STATES

CHART_WIDTH = 720
CHART_HEIGHT = 180
WINDOWS = (30, 90)


class Day(TypedDict):
    day: date
    acus: float
    sessions: int


class Bar(Day):
    x: float
    width: float
    y: float
    height: float


class CategoryRow(TypedDict):
    category: str
    n: int
    acus: float


@require_GET
def insight_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    first = visible_orgs(request.user).order_by("name").first()
    if first is None:
        return render(request, "dashboard/insight.html", {"nav": "insight", "org": None})
    return redirect("insight", pk=first.pk)


def _bars(per_day: list[Day]) -> list[Bar]:
    """Bar geometry for the SVG chart (numbers only; the template draws it)."""
    peak = max((d["acus"] for d in per_day), default=0) or 1
    step = CHART_WIDTH / max(len(per_day), 1)
    bars = []
    for n, day in enumerate(per_day):
        height = round(day["acus"] / peak * CHART_HEIGHT, 1)
        bars.append(
            Bar(
                **day,
                x=round(n * step + step * 0.1, 1),
                width=round(step * 0.8, 1),
                y=round(CHART_HEIGHT - height, 1),
                height=height,
            )
        )
    return bars


@require_GET
def insight(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk)
    days = 90 if request.GET.get("days") == "90" else 30
    today = timezone.now().astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    # Days are UTC dates (created_day), so every viewer sees the same buckets. The aggregates
    # below read only the session_insight index.
    window = Session.objects.filter(org=org, created_day__gte=first_day)

    # Each session's ACUs count on the day it was created: the API reports a running total per
    # session, not per-day consumption.
    totals: dict[date | None, tuple[float | None, int]] = {
        row["created_day"]: (row["acus"], row["sessions"])
        for row in window.values("created_day")
        .annotate(acus=Sum("acus_consumed"), sessions=Count("*"))
        .order_by()
    }
    per_day = []
    for n in range(days):
        day: date = first_day + timedelta(days=n)
        acus, sessions = totals.get(day, (0.0, 0))
        per_day.append(Day(day=day, acus=acus or 0.0, sessions=sessions))
    # Status, category and PR states in one pass over the index (one GROUP BY of at most a few
    # hundred groups), summed up here, rather than three passes.
    by_status: dict[str, int] = defaultdict(int)
    by_category: dict[str, CategoryRow] = {}
    pr_counts: dict[str, int] = defaultdict(int)
    pr_columns = {
        "none": Q(pr_states=""),
        **{state: Q(pr_states__contains=f"|{state}|") for state in PR_STATES},
    }
    groups = (
        window.values("status", "category")
        .annotate(
            n=Count("*"),
            acus=Sum("acus_consumed"),
            **{f"pr_{name}": Count("pr_states", filter=q) for name, q in pr_columns.items()},
        )
        .order_by()
    )
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
    context = {
        "nav": "insight",
        "org": org,
        "orgs": visible_orgs(request.user).order_by("name"),
        "days": days,
        "first_day": first_day,
        "last_day": today,
        "windows": WINDOWS,
        "bars": _bars(per_day),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "total_acus": sum(d["acus"] for d in per_day),
        "total_sessions": sum(d["sessions"] for d in per_day),
        "peak_acus": max(d["acus"] for d in per_day),
        "by_status": [
            {"status": status, "n": n}
            for status, n in sorted(by_status.items(), key=lambda item: (-item[1], item[0]))
        ],
        "by_category": sorted(by_category.values(), key=lambda c: (-c["acus"], c["category"])),
        "pr_counts": [(state, pr_counts[state]) for state in [*PR_STATES, "none"]],
        "top": window.order_by("-acus_consumed").only(
            "session_id", "title", "status", "acus_consumed", "org_id"
        )[:10],
    }
    return render(request, "dashboard/insight.html", context)
