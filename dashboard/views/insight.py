"""Where the ACUs go: per-org aggregates over the last 30 or 90 days, computed in the database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.access import HtmxHttpRequest, org_for_user, visible_orgs
from dashboard.filters import PR_STATES
from dashboard.models import Session

CHART_WIDTH = 720
CHART_HEIGHT = 180
WINDOWS = (30, 90)


@require_GET
def insight_index(request: HtmxHttpRequest) -> HttpResponse:
    first = visible_orgs(request.user).order_by("name").first()
    if first is None:
        return render(request, "dashboard/insight.html", {"nav": "insight", "org": None})
    return redirect("insight", pk=first.pk)


def _bars(per_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bar geometry for the SVG chart (numbers only; the template draws it)."""
    peak = max((d["acus"] for d in per_day), default=0) or 1
    step = CHART_WIDTH / max(len(per_day), 1)
    bars = []
    for n, day in enumerate(per_day):
        height = round(day["acus"] / peak * CHART_HEIGHT, 1)
        bars.append(
            {
                **day,
                "x": round(n * step + step * 0.1, 1),
                "width": round(step * 0.8, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "height": height,
            }
        )
    return bars


@require_GET
def insight(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk)
    days = 90 if request.GET.get("days") == "90" else 30
    today = timezone.now().date()
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, time.min, tzinfo=timezone.get_current_timezone())
    window = Session.objects.filter(org=org, created_at__gte=start)

    # Each session's ACUs count on the day it was created: the API reports a running total per
    # session, not per-day consumption.
    totals: dict[date, dict[str, Any]] = {
        row["day"]: dict(row)
        for row in window.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(acus=Sum("acus_consumed"), sessions=Count("pk"))
        .order_by()
    }
    per_day = []
    for n in range(days):
        day: date = first_day + timedelta(days=n)
        found = totals.get(day, {})
        per_day.append(
            {"day": day, "acus": found.get("acus") or 0.0, "sessions": found.get("sessions", 0)}
        )
    pr_counts = window.aggregate(
        none=Count("pk", filter=Q(pr_states="")),
        **{state: Count("pk", filter=Q(pr_states__contains=f"|{state}|")) for state in PR_STATES},
    )
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
        "by_status": window.values("status").annotate(n=Count("pk")).order_by("-n", "status"),
        "by_category": window.values("category")
        .annotate(n=Count("pk"), acus=Sum("acus_consumed"))
        .order_by("-acus", "category"),
        "pr_counts": [(state, pr_counts[state]) for state in [*PR_STATES, "none"]],
        "top": window.order_by("-acus_consumed", "-pk").only(
            "session_id", "title", "status", "acus_consumed", "org_id"
        )[:10],
    }
    return render(request, "dashboard/insight.html", context)
