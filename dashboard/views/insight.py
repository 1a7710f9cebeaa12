"""Where the ACUs go: one org, or every org of the viewer, over the last 30 or 90 days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard import insight as data
from dashboard.access import org_for_user, visible_orgs
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import Organization

WINDOWS = (30, 90)


@require_GET
def insight_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    orgs = list(visible_orgs(request.user).order_by("name")[:2])
    if not orgs:
        return render(request, "dashboard/insight.html", {"nav": "insight", "orgs": []})
    if len(orgs) > 1:
        return redirect("insight_all")
    return redirect("insight", pk=orgs[0].pk)


@require_GET
def insight(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk)
    return _page(request, [org], org)


@require_GET
def insight_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request, list(visible_orgs(request.user).order_by("name")), None)


def _page(
    request: AuthenticatedHttpRequest, orgs: Sequence[Organization], org: Organization | None
) -> HttpResponse:
    # Any other value (or none) is the default window: a crafted one is ignored, never a 500.
    days = 90 if request.GET.get("days") == "90" else 30
    today = timezone.now().astimezone(UTC).date()
    first_day = today - timedelta(days=days - 1)
    per_day = data.per_day(orgs, first_day, days) if orgs else []
    peak = max((d["acus"] for d in per_day), default=0.0)
    ticks = data.ticks(peak)
    top = ticks[-1]
    context = {
        "nav": "insight",
        "org": org,
        "orgs": orgs if org is None else list(visible_orgs(request.user).order_by("name")),
        "days": days,
        "first_day": first_day,
        "mid_day": first_day + timedelta(days=days // 2),
        "last_day": today,
        "windows": WINDOWS,
        "bars": data.bars(per_day, top),
        "ticks": [(t, round(data.CHART_HEIGHT * (1 - t / top), 1)) for t in ticks],
        "chart_width": data.CHART_WIDTH,
        "chart_height": data.CHART_HEIGHT,
        "total_acus": sum(d["acus"] for d in per_day),
        "total_sessions": sum(d["sessions"] for d in per_day),
        "peak_acus": peak,
        "estimated_until": next((d["day"] for d in per_day if not d["estimated"]), None),
        "any_estimated": any(d["estimated"] for d in per_day),
        # The sessions page's links keep to this org, or to all of the viewer's.
        "scope": f"org={org.pk}&" if org else "",
        **(data.breakdown(orgs, first_day) if orgs else {}),
    }
    return render(request, "dashboard/insight.html", context)
