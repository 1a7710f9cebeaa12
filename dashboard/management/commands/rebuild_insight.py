"""Recount the insight page's daily rollup from the stored sessions (dashboard.insightdays).

Every store keeps the rollup in step; this is for what did not go through one: sessions written by
hand in SQL (the benchmark's bulk copies), or a rollup suspected of drifting.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import insightdays
from dashboard.models import Organization


class Command(BaseCommand):
    help = "Recount the insight rollup of one organization (--org PK) or of every one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", type=int, help="the organization's pk (default: all)")

    def handle(self, *args: Any, org: int | None = None, **options: Any) -> None:
        orgs = Organization.objects.order_by("pk")
        if org is not None:
            orgs = orgs.filter(pk=org)
            if not orgs.exists():
                raise CommandError(f"No organization with pk {org}.")
        for each in orgs:
            rows = insightdays.refresh(each.pk)
            self.stdout.write(f"{each.name}: {rows} rollup rows")
