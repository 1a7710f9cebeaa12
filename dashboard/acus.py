"""ACUs per day as the dashboard saw them: the bookkeeping each store of sessions does.

A session's `acus_consumed` is a running total. Each store adds what it grew by (never what it
shrank by) to the org's AcuDay of the day it was seen. Sessions created before the org's first
store are history the dashboard never saw grow: they count on their creation day (the insight
page's fallback), and their later growth is not counted again here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db.models import F

from dashboard.acumodels import AcuDay
from dashboard.models import Organization


def watched_from(org: Organization, now: datetime) -> date:
    """The first UTC day the dashboard watched the org's ACUs; today if it starts now."""
    first = AcuDay.objects.filter(org=org).order_by("day").values_list("day", flat=True).first()
    if first is not None:
        return first
    today = now.astimezone(UTC).date()
    AcuDay.objects.bulk_create([AcuDay(org=org, day=today)], ignore_conflicts=True)
    return today


def gained(old: float | None, new: float) -> float:
    """What a session's running total grew by: a total that went down (a correction) adds 0."""
    return max(0.0, new - (old or 0.0))


def add(org: Organization, now: datetime, acus: float) -> None:
    """Add `acus` to the org's day of `now` (UTC); safe when two stores race."""
    if acus <= 0:
        return
    day = now.astimezone(UTC).date()
    AcuDay.objects.bulk_create([AcuDay(org=org, day=day)], ignore_conflicts=True)
    AcuDay.objects.filter(org=org, day=day).update(acus=F("acus") + acus)
