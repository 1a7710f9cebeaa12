"""Migration 0016's backfill keeps its own copy of the rollup's rules (a migration must not change
meaning with live code): it must fill exactly what `insightdays.refresh` computes today."""

from __future__ import annotations

import importlib
import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from dashboard import insightdays
from dashboard.models import InsightDay, Organization, Session

pytestmark = pytest.mark.django_db

PR_STATES = ["", "|open|", "|merged|", "|open|merged|", "|closed|open|", "|open|open|"]


def rollup() -> set[tuple[Any, ...]]:
    return set(InsightDay.objects.values_list("org_id", "day", "kind", "value", "n", "acus"))


def test_the_backfill_fills_what_refresh_computes() -> None:
    rng = random.Random(16)
    now = timezone.now()
    orgs = [
        Organization.objects.create(name=n, org_id=f"org-{n}", base_url="https://x.test")
        for n in ("one", "two")
    ]
    sessions = []
    for n in range(300):
        created = now - timedelta(days=rng.randrange(40), hours=rng.randrange(24))
        sessions.append(
            Session(
                org=rng.choice(orgs),
                session_id=f"devin-{n}",
                status=rng.choice(["running", "blocked", "exit", "error"]),
                category=rng.choice(["", "bug", "docs"]),
                pr_states=rng.choice(PR_STATES),
                acus_consumed=rng.choice([0.0, 0.5, 2.25]),
                created_at=created,
                created_day=created.date() if n % 10 else None,  # some without a day
                updated_at=created,
            )
        )
    Session.objects.bulk_create(sessions)  # no store, no save(): the rollup is empty
    InsightDay.objects.all().delete()

    migration = importlib.import_module("dashboard.migrations.0016_insight_days")
    migration.fill(apps, SimpleNamespace(connection=connection))
    filled = rollup()

    InsightDay.objects.all().delete()
    for org in orgs:
        insightdays.refresh(org.pk)
    assert filled and filled == rollup()
