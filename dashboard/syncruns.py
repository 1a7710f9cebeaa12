"""Sync runs, the rows: one active run per org, the incremental window, and how a run ends.

A SyncRun is both the record of a sync and its claim. The one_active_sync_per_org constraint
admits one queued or running run per org, whoever asks; the worker that runs it holds it with a
lease (dashboard.leases) and may write its end only while it still holds it. dashboard.sync
walks the API for a run; dashboard.recovery ends the runs no worker holds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from dashboard import audit, leases
from dashboard.models import AuditEvent, Organization, SyncRun

log = logging.getLogger("dashboard.sync")

KEEP_RUNS = 20
COUNTS = ("pages", "seen", "created", "updated")


class SyncActive(Exception):
    """A sync of the org is already queued or running (`run`): one active sync per org."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(run.state)
        self.run = run


def last_success(org: Organization) -> SyncRun | None:
    return org.sync_runs.filter(state=SyncRun.State.OK).order_by("-started_at").first()


def active_run(org: Organization) -> SyncRun | None:
    return org.sync_runs.filter(state__in=SyncRun.ACTIVE).first()


def newest_seen(org: Organization) -> datetime | None:
    """The newest updated_at the org's last successful run (and those before it) saw, by Devin's
    clock; None before a success that saw a session."""
    previous = last_success(org)
    return previous.newest_updated_at if previous is not None else None


def window_start(org: Organization) -> datetime | None:
    """Where an incremental sync of the org starts (its updated_after); None means a full sync.

    Devin's own clock, from `newest_seen`, minus DASHBOARD_SYNC_OVERLAP: not the dashboard's
    clock, which may be behind Devin's by more than the overlap.
    """
    newest = newest_seen(org)
    if newest is None:
        return None
    return newest - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)


def window(org: Organization, full: bool) -> tuple[bool, datetime | None]:
    """(full, since): incremental from `window_start`, unless full or there is none."""
    since = None if full else window_start(org)
    return since is None, since


def open_run(
    org: Organization, *, user: User | None, full: bool, worker: str = ""
) -> SyncRun | None:
    """A new run, queued (or running, held by `worker`); None if the org already has one."""
    is_full, since = window(org, full)
    try:
        with transaction.atomic():  # a savepoint: the constraint's error leaves the caller's
            return SyncRun.objects.create(  # transaction usable
                org=org,
                state=SyncRun.State.RUNNING if worker else SyncRun.State.QUEUED,
                full=is_full,
                since=since,
                # Carried forward, so a run that sees nothing new keeps the window where it was.
                newest_updated_at=None if is_full else newest_seen(org),
                triggered_by=user if user is not None and user.pk else None,
                worker=worker,
                lease_until=leases.lease_end() if worker else None,
            )
    except IntegrityError:
        return None


def claim(runs: QuerySet[SyncRun], worker: str, **values: object) -> int:
    """Take a queued run, or one whose holder's lease ran out: a conditional UPDATE."""
    return runs.filter(leases.claimable(), state__in=SyncRun.ACTIVE).update(
        state=SyncRun.State.RUNNING,
        worker=worker,
        lease_until=leases.lease_end(),
        started_at=timezone.now(),  # the watermark: what this run lists is as of now
        error="",
        **dict.fromkeys(COUNTS, 0),
        skipped=0,  # counted again from the first page
        skipped_detail="",
        **values,
    )


def counts(run: SyncRun) -> dict[str, int]:
    return {name: getattr(run, name) for name in COUNTS}


def finish(run: SyncRun, worker: str) -> None:
    """Record the end and its audit event together, if this worker still holds the run."""
    run.finished_at = timezone.now()
    with transaction.atomic():
        ended = SyncRun.objects.filter(pk=run.pk, worker=worker).update(
            state=run.state,
            error=run.error,
            finished_at=run.finished_at,
            worker="",
            lease_until=None,
            **counts(run),
        )
        if ended:
            record_end(run)
    if not ended:
        log.warning("sync run %s was ended elsewhere (its lease ran out)", run.pk)
        run.refresh_from_db()  # what recovery recorded is what happened to it
        return
    words = " ".join(f"{name}={n}" for name, n in counts(run).items())
    log.info("sync of %s %s: %s", run.org.org_id, run.state, words)
    prune_runs(run.org)


def record_end(run: SyncRun) -> None:
    """The audit event of a run that ended (in its worker, or in recovery)."""
    audit.record(
        "sync",
        actor=run.triggered_by,
        org=run.org,
        outcome=AuditEvent.Outcome.OK
        if run.state == SyncRun.State.OK
        else AuditEvent.Outcome.FAILED,
        detail=(
            f"{'full' if run.full else 'incremental'}: {run.pages} pages, {run.seen} seen, "
            f"{run.created} new, {run.updated} updated"
            + (f", {run.skipped} could not be read" if run.skipped else "")
            + (f"; {run.error}" if run.error else "")
        ),
        actor_name="" if run.triggered_by else "sync job",
    )


def prune_runs(org: Organization) -> int:
    """Drop all but the newest KEEP_RUNS runs of an org (never its last success or active run).

    The scheduler records a run a minute; without this the sessions page, which shows each org's
    newest run, would scan a history that grows forever. The audit trail keeps every run.
    """
    keep = list(org.sync_runs.order_by("-started_at").values_list("pk", flat=True)[:KEEP_RUNS])
    success = last_success(org)
    if success is not None:
        keep.append(success.pk)
    stale = org.sync_runs.exclude(pk__in=keep).exclude(state__in=SyncRun.ACTIVE)
    deleted, _ = stale.delete()
    return deleted
