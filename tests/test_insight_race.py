"""A recount of the insight rollup (`insightdays.refresh`: a hand-saved session, an admin delete,
`manage.py rebuild_insight`) while a store is writing the same org must not lose the store's
sessions: the recount deletes and rewrites the org's days. Real transactions on two connections."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from dashboard import insightdays
from dashboard.models import InsightDay, Organization, Session

pytestmark = pytest.mark.django_db(transaction=True)


def rollup() -> set[tuple[Any, ...]]:
    return set(InsightDay.objects.values_list("org_id", "day", "kind", "value", "n"))


def test_a_recount_waits_for_a_store_in_flight_and_counts_its_sessions() -> None:
    org = Organization.objects.create(name="o", org_id="org-o", base_url="https://x.test")
    now = timezone.now()
    Session.objects.create(
        org=org, session_id="devin-1", status="exit", created_at=now, updated_at=now
    )
    stored, release, recounted = threading.Event(), threading.Event(), threading.Event()

    def store() -> None:
        # What dashboard.sync does: write the session, then move the rollup, in one transaction.
        try:
            with transaction.atomic():
                row = Session(
                    org=org, session_id="devin-2", status="running", created_at=now, updated_at=now
                )
                row.created_day = now.date()
                Session.objects.bulk_create([row])  # no save(): no recount of its own
                insightdays.apply(org.pk, [(None, insightdays.fact(row))])
                stored.set()
                release.wait(10)
        finally:
            connection.close()

    def recount() -> None:
        try:
            insightdays.refresh(org.pk)
            recounted.set()
        finally:
            connection.close()

    writer = threading.Thread(target=store)
    writer.start()
    assert stored.wait(10)
    reader = threading.Thread(target=recount)
    reader.start()
    time.sleep(0.5)
    assert not recounted.is_set()  # it waits for the store's transaction
    release.set()
    writer.join(10)
    reader.join(20)
    assert recounted.is_set()

    expected = rollup()
    insightdays.refresh(org.pk)  # alone: the truth
    assert expected == rollup()
    assert ("status", "running") in {(k, v) for _, _, k, v, _ in expected}
