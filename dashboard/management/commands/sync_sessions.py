from __future__ import annotations

import random
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from dashboard import sync
from dashboard.models import Organization, SyncRun


class Command(BaseCommand):
    help = (
        "Fetch sessions from the Devin API into the dashboard. The first run of an org is full; "
        "later runs ask only for sessions updated since the newest change the last success saw "
        "(minus an overlap)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="ORG_ID", help="Only this org (its Devin org id).")
        parser.add_argument(
            "--full", action="store_true", help="Fetch everything, not only changes."
        )
        parser.add_argument(
            "--loop", action="store_true", help="Keep syncing every --interval seconds."
        )
        parser.add_argument(
            "--interval", type=float, default=60.0, metavar="SECONDS", help="Default: 60."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        if not options["loop"]:
            if self.sync_once(options["org"], options["full"]):
                raise CommandError("At least one org failed to sync; see above.")
            return
        stop = {"now": False}

        def request_stop(signum: int, frame: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        failures = 0
        full = options["full"]
        while not stop["now"]:
            try:
                failed = self.sync_once(options["org"], full)
            except Exception as exc:  # the loop is a service: log, back off, carry on
                self.stderr.write(f"sync loop error: {exc}")
                failed = True
            full = False
            close_old_connections()
            failures = failures + 1 if failed else 0
            # Back off on repeated failures (up to 10 intervals), with jitter.
            wait = options["interval"] * min(2**failures, 10) if failures else options["interval"]
            deadline = time.monotonic() + wait * random.uniform(0.9, 1.1)
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(0.2)
        self.stdout.write("sync loop stopped")

    def sync_once(self, org_id: str | None, full: bool) -> bool:
        """Sync every org (or one); True if any failed."""
        orgs = Organization.objects.exclude(token_ciphertext="")
        if org_id:
            orgs = orgs.filter(org_id=org_id)
            if not orgs.exists():
                raise CommandError(f"No organization with id {org_id} and a credential.")
        failed = False
        for org in orgs:
            run = sync.sync_org(org, full=full)
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
