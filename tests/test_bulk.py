from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import AuditEvent, BulkItem, BulkRun, Session

# The bulk run works in background threads with their own database connections.
pytestmark = pytest.mark.django_db(transaction=True)


def wait_done(run_pk: int, timeout: float = 30) -> BulkRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = BulkRun.objects.get(pk=run_pk)
        if run.state == BulkRun.State.DONE:
            return run
        time.sleep(0.05)
    raise AssertionError("bulk run did not finish")


@pytest.fixture
def many(fake: Any, acme: Any, globex: Any) -> Any:
    for n in range(40):
        fake.add_session("org-acme", title=f"Batch job {n}", status="running", tags=["batch"])
    sync.sync_org(acme)
    sync.sync_org(globex)
    return fake


def test_bulk_archive_of_a_filter_touches_exactly_the_matching_sessions(
    client: Client, many: Any, operator: Any, settings: Any
) -> None:
    settings.BULK_CONCURRENCY = 4
    many.latency = 0.05
    client.force_login(operator)
    matching = set(
        Session.objects.filter(
            org__org_id="org-acme", is_archived=False, tags_text__contains="|batch|"
        ).values_list("session_id", flat=True)
    )
    assert len(matching) == 40
    untouched = {s.pk: s.is_archived for s in Session.objects.exclude(session_id__in=matching)}
    many.reset_stats()
    response = client.post("/sessions/bulk-archive/", {"scope": "filter", "tag": "batch"})
    assert response.status_code == 302
    run_pk = int(re.search(r"/bulk/(\d+)/", response["Location"]).group(1))  # type: ignore[union-attr]
    wait_done(run_pk)
    archived_calls = [p for m, p in many.calls if m == "POST" and p.endswith("/archive")]
    assert {p.split("/")[-2] for p in archived_calls} == matching
    assert many.peak_in_flight <= 4
    assert (
        set(
            Session.objects.filter(session_id__in=matching, is_archived=True).values_list(
                "session_id", flat=True
            )
        )
        == matching
    )
    assert {
        s.pk: s.is_archived for s in Session.objects.exclude(session_id__in=matching)
    } == untouched
    assert AuditEvent.objects.filter(action="archive", outcome="ok").count() == 40
    summary = AuditEvent.objects.get(action="bulk_archive_finished")
    assert summary.detail == f"bulk #{run_pk}: 40 archived, 0 not, of 40"
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "40 archived, 0 failed" in page


def test_bulk_archive_of_selected_rows_ignores_rows_i_cannot_act_on(
    client: Client, many: Any, operator: Any, globex: Any
) -> None:
    client.force_login(operator)
    mine = list(Session.objects.filter(org__org_id="org-acme", is_archived=False)[:3])
    theirs = Session.objects.filter(org=globex, is_archived=False).first()
    assert theirs is not None
    ids = [s.pk for s in mine] + [theirs.pk]
    response = client.post("/sessions/bulk-archive/", {"scope": "selected", "ids": ids})
    run = wait_done(int(response["Location"].rstrip("/").split("/")[-1]))
    targeted = set(BulkItem.objects.filter(run=run).values_list("session_id", flat=True))
    assert targeted == {s.pk for s in mine}
    assert not Session.objects.get(pk=theirs.pk).is_archived


def test_bulk_archive_reports_each_failure_and_respects_429(
    client: Client, many: Any, operator: Any, settings: Any
) -> None:
    settings.BULK_CONCURRENCY = 8
    client.force_login(operator)
    rows = list(Session.objects.filter(tags_text__contains="|batch|")[:10])
    # Two 429s (retried after the pause), then one hard 403 for a single session.
    many.inject("429", count=2, retry_after="0", method="POST", path="/archive")
    victim = rows[0].session_id
    many.inject("status", count=None, status=403, method="POST", path=f"{victim}/archive")
    response = client.post(
        "/sessions/bulk-archive/", {"scope": "selected", "ids": [r.pk for r in rows]}
    )
    run = wait_done(int(response["Location"].rstrip("/").split("/")[-1]))
    many.clear_faults()
    outcomes = dict(BulkItem.objects.filter(run=run).values_list("session__session_id", "outcome"))
    assert outcomes.pop(victim) == "failed"
    assert set(outcomes.values()) == {"ok"}
    assert not Session.objects.get(session_id=victim).is_archived
    failed = BulkItem.objects.get(run=run, outcome="failed")
    assert "(403)" in failed.error
    page = client.get(f"/bulk/{run.pk}/").content.decode()
    assert "9 archived, 1 failed" in page
    assert "(403)" in page


def test_viewer_cannot_bulk_archive(client: Client, many: Any, viewer: Any) -> None:
    client.force_login(viewer)
    rows = list(Session.objects.filter(org__org_id="org-acme", is_archived=False)[:3])
    response = client.post(
        "/sessions/bulk-archive/", {"scope": "selected", "ids": [r.pk for r in rows]}
    )
    assert response.status_code == 403
    assert not BulkRun.objects.exists()


def test_someone_elses_bulk_run_is_a_404(
    client: Client, many: Any, operator: Any, make_user: Any
) -> None:
    client.force_login(operator)
    row = Session.objects.filter(org__org_id="org-acme", is_archived=False).first()
    assert row is not None
    response = client.post("/sessions/bulk-archive/", {"scope": "selected", "ids": [row.pk]})
    wait_done(int(response["Location"].rstrip("/").split("/")[-1]))
    client.force_login(make_user("stranger"))
    assert client.get(response["Location"]).status_code == 404
