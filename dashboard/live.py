"""Live refresh of running sessions, shared by every open browser.

The Devin API has no webhooks, so pages poll us and we poll Devin. A page's poll only reads the
dashboard's copy; it never calls Devin. Whatever the number of viewers, each org is re-read at
most once per interval: the first poll after the interval claims the org in the database (an
UPDATE that only one request can win) and queues `live_refresh_task`, which a worker runs. The
rows it stores reach the pages on a later poll, and what went wrong, if anything, is kept in
`Organization.live_problem` for the polls to show.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from dashboard import devin, sync, wording
from dashboard.crypto import CredentialDecryptError
from dashboard.models import Organization

log = logging.getLogger(__name__)

MAX_PAGES = 5
OVERLAP = timedelta(seconds=30)
# A refresh that waited in the queue longer than this (no worker was free) has been superseded
# by newer ones: skip it rather than read Devin for pages that moved on. Generous, because the
# time it was asked comes from a web server's clock.
STALE_AFTER = timedelta(seconds=60)


def request_refresh(org: Organization) -> bool:
    """Queue a re-read of the org's recent sessions unless another poll did within the interval.

    True if this call queued it. The claim is the conditional UPDATE of `live_refreshed_at`:
    one per org per interval across every browser, gunicorn worker and machine.
    """
    interval = timedelta(seconds=settings.LIVE_REFRESH_SECONDS)
    now = timezone.now()
    previous = (
        Organization.objects.filter(pk=org.pk).values_list("live_refreshed_at", flat=True).first()
    )
    due = Q(live_refreshed_at__isnull=True) | Q(live_refreshed_at__lte=now - interval)
    if not Organization.objects.filter(due, pk=org.pk).update(live_refreshed_at=now):
        return False
    since = (previous or now - interval) - OVERLAP
    job = functools.partial(
        live_refresh_task.enqueue, org.pk, since=since.timestamp(), asked=now.timestamp()
    )
    transaction.on_commit(job)
    return True


@task()
def live_refresh_task(org_pk: int, since: float | None = None, asked: float | None = None) -> str:
    """Re-read the sessions of one org updated since `since` (Unix seconds) and store them.

    Records what went wrong in `live_problem` ("" when all went well); never raises for API
    trouble or odd data, so the next interval simply tries again.
    """
    now = timezone.now()
    interval = timedelta(seconds=max(settings.LIVE_REFRESH_SECONDS, 1))
    if (
        asked is not None
        and now.timestamp() - asked > max(STALE_AFTER, 2 * interval).total_seconds()
    ):
        return "superseded"
    org = Organization.objects.filter(pk=org_pk).first()
    if org is None:
        return "no such org"
    start = datetime.fromtimestamp(since, UTC) if since is not None else now - interval
    problem = ""
    try:
        client = org.client()
        # Whether the list includes archived sessions is undocumented: ask for both, so a
        # session archived elsewhere leaves the live view too.
        for archived in (False, True):
            query = devin.SessionQuery(updated_after=int(start.timestamp()), is_archived=archived)
            for n, page in enumerate(client.list_sessions(query), start=1):
                sync.store_sessions(org, page.items)
                if n >= MAX_PAGES:  # a burst this large is a sync's job, not a live refresh's
                    break
    except (devin.DevinError, CredentialDecryptError) as exc:
        log.info("live refresh of %s failed: %s", org.org_id, exc)
        problem = wording.describe(exc)
    except Exception:  # odd data or a bug: say so on the page, and try again next interval
        log.exception("live refresh of %s crashed", org.org_id)
        problem = "the refresh stopped on an internal error; see the server log."
    Organization.objects.filter(pk=org.pk).update(live_problem=problem)
    return problem or "ok"
