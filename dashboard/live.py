"""Live refresh of running sessions, shared by every open browser.

The Devin API has no webhooks, so pages poll us and we poll Devin. Whatever the number of viewers,
each org is re-read at most once per interval: the first poll after the interval claims the org in
the database (an UPDATE that only one request can win) and asks Devin for the sessions updated
since the previous read; every other poll just reads the dashboard's copy.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from dashboard import devin, sync, wording
from dashboard.crypto import CredentialDecryptError
from dashboard.models import Organization

log = logging.getLogger(__name__)

MAX_PAGES = 5
OVERLAP = timedelta(seconds=30)


def refresh_org(org: Organization) -> str:
    """Re-read the org's recently updated sessions unless another request did within the interval.

    Returns "" when all went well (or another request had the turn), else what went wrong, in
    words for the page. Never raises for API trouble: the page keeps showing what the dashboard
    knows, and the next interval tries again.
    """
    interval = timedelta(seconds=settings.LIVE_REFRESH_SECONDS)
    now = timezone.now()
    previous = (
        Organization.objects.filter(pk=org.pk).values_list("live_refreshed_at", flat=True).first()
    )
    due = Q(live_refreshed_at__isnull=True) | Q(live_refreshed_at__lte=now - interval)
    if not Organization.objects.filter(due, pk=org.pk).update(live_refreshed_at=now):
        return ""
    since = (previous or now - interval) - OVERLAP
    try:
        client = org.client()
        query = devin.SessionQuery(updated_after=int(since.timestamp()))
        for n, page in enumerate(client.list_sessions(query), start=1):
            sync.store_sessions(org, page.items)
            if n >= MAX_PAGES:  # a burst this large is a sync's job, not a page poll's
                break
    except (devin.DevinError, CredentialDecryptError) as exc:
        log.info("live refresh of %s failed: %s", org.org_id, exc)
        return wording.describe(exc)
    return ""
