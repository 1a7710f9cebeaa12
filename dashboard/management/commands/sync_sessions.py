from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.db.models import QuerySet
from django.utils import timezone

from dashboard import recovery, rules, sync, syncruns
from dashboard.models import Organization, SyncRun

log = logging.getLogger("dashboard.scheduler")

# After N failed syncs in a row an org waits 2**N intervals (at most this many) for the next.
MAX_BACKOFF = 10


def is_due(org: Organization, interval: float) -> bool:
    """Whether the scheduler should queue the org's next sync now."""
    recent = list(org.sync_runs.order_by("-started_at")[:4])
    if not recent:
        return True
    if recent[0].is_active:
        return False
    failures = next(
        (n for n, run in enumerate(recent) if run.state != SyncRun.State.FAILED), len(recent)
    )
    wait = interval * min(2**failures, MAX_BACKOFF)
    ended = recent[0].finished_at or recent[0].started_at
    return ended + timedelta(seconds=wait) <= timezone.now()


def scheduler_pass(orgs: QuerySet[Organization], interval: float, *, full: bool = False) -> int:
    """Recovery, then one queued sync per due org; how many it queued. Never raises: one org's
    trouble is logged with its traceback and the others still get their turn."""
    try:
        recovery.recover()
    except Exception:
        log.exception("recovery failed")
    try:
        rules.enqueue_due()
    except Exception:
        log.exception("could not queue the due retention rules")
    queued = 0
    try:
        listed = list(orgs)
    except Exception:  # the database is away: the next pass tries again
        log.exception("could not list the organizations")
        return 0
    for org in listed:
        try:
            if is_due(org, interval):
                run, new = sync.request_sync(org, full=full)
                if new:
                    queued += 1
                    log.info("queued sync run %s of %s", run.pk, org.org_id)
        except Exception:
            log.exception("could not queue a sync of %s", org.org_id)
    return queued


class Command(BaseCommand):
    help = (
        "Fetch sessions from the Devin API into the dashboard. The first run of an org is full; "
        "later runs ask only for sessions updated since the newest change the last success saw "
        "(minus an overlap). "
        "With --loop it is the scheduler: it queues each org's sync for the background workers "
        "(manage.py db_worker) every --interval seconds and recovers work whose worker died."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="ORG_ID", help="Only this org (its Devin org id).")
        parser.add_argument(
            "--full", action="store_true", help="Fetch everything, not only changes."
        )
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Be the scheduler: queue a sync of each org every --interval seconds.",
        )
        parser.add_argument(
            "--interval", type=float, default=60.0, metavar="SECONDS", help="Default: 60."
        )
        parser.add_argument(
            "--tick",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="With --loop: seconds between scheduler passes (recovery, then due syncs). "
            "Default: 5.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0 or options["tick"] <= 0:
            raise CommandError("--interval and --tick must be positive numbers of seconds.")
        orgs = Organization.objects.exclude(token_ciphertext="")
        if options["org"]:
            orgs = orgs.filter(org_id=options["org"])
            if not orgs.exists():
                raise CommandError(f"No organization with id {options['org']} and a credential.")
        if options["loop"]:
            self.schedule(orgs, options["interval"], options["tick"], options["full"])
        elif self.sync_inline(orgs, options["full"]):
            raise CommandError("At least one org did not sync; see above.")

    def schedule(
        self, orgs: QuerySet[Organization], interval: float, tick: float, full: bool
    ) -> None:
        stop = {"now": False}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        log.info("scheduler started: each org's sync every %s s, a pass every %s s", interval, tick)
        while not stop["now"]:
            scheduler_pass(orgs.all(), interval, full=full)
            full = False
            close_old_connections()
            deadline = time.monotonic() + tick
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(min(0.2, tick))
        self.stdout.write("scheduler stopped")

    def sync_inline(self, orgs: QuerySet[Organization], full: bool) -> bool:
        """Sync every org here and now (cron, scripts); True if any did not sync."""
        failed = False
        for org in orgs:
            try:
                run = sync.sync_org(org, full=full)
            except syncruns.SyncActive as exc:
                failed = True
                since = timezone.localtime(exc.run.started_at)
                self.stderr.write(
                    f"{org.org_id}: a sync is already {exc.run.state} (since {since:%H:%M:%S}"
                    f"{', on ' + exc.run.worker if exc.run.worker else ''}); not starting another"
                )
                continue
            except Exception:  # the next org still gets its turn
                log.exception("sync of %s crashed", org.org_id)
                failed = True
                self.stderr.write(f"{org.org_id}: sync failed: {sync.INTERNAL_ERROR}")
                continue
            if run.state == SyncRun.State.OK:
                self.stdout.write(
                    f"{org.org_id}: {'full' if run.full else 'incremental'} sync ok, "
                    f"{run.pages} pages, {run.seen} seen, {run.created} new, {run.updated} updated"
                    + (f", {run.skipped} could not be read" if run.skipped else "")
                )
            else:
                failed = True
                self.stderr.write(f"{org.org_id}: sync failed: {run.error}")
        return failed
