from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dashboard import bulk, sync
from dashboard.bulk import bulk_task
from dashboard.models import ActionAttempt, AuditEvent, BulkItem, BulkRun, Organization, Session
from tests.workers import run_queued_tasks

# The bulk task's threads have their own database connections: they see committed data only.
pytestmark = pytest.mark.django_db(transaction=True)


def wait_done(run_pk: int) -> BulkRun:
    """Run the queued tasks here, as one db_worker pass would, until none is left."""
    run_queued_tasks()
    run = BulkRun.objects.get(pk=run_pk)
    assert run.state == BulkRun.State.DONE
    return run


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


def start(client: Client, ids: list[int]) -> int:
    response = client.post("/sessions/bulk-archive/", {"scope": "selected", "ids": ids})
    assert response.status_code == 302
    return int(response["Location"].rstrip("/").split("/")[-1])


def test_a_retry_after_beyond_the_cap_fails_that_item_and_the_run_goes_on(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    rows = list(Session.objects.filter(tags_text__contains="|batch|").order_by("pk")[:6])
    victim = rows[0].session_id
    many.inject("429", count=None, retry_after="100000", method="POST", path=f"{victim}/archive")
    started = time.monotonic()
    run = wait_done(start(client, [r.pk for r in rows]))
    # One 27-hour pause would have parked every thread; the run ends at once instead.
    assert time.monotonic() - started < 20
    outcomes = dict(BulkItem.objects.filter(run=run).values_list("session__session_id", "outcome"))
    assert outcomes.pop(victim) == "failed"
    assert set(outcomes.values()) == {"ok"}
    failed = BulkItem.objects.get(run=run, outcome="failed")
    assert (
        "(429)" in failed.error
        and "A bulk run waits at most 60 seconds, so this one was not tried again" in failed.error
    )
    page = client.get(f"/bulk/{run.pk}/").content.decode()
    assert (
        "5 archived, 1 failed" in page
        and "A bulk run waits at most 60 seconds, so this one was not tried again" in page
    )
    calls = [p for m, p in many.calls if m == "POST" and victim in p]
    assert len(calls) == 1  # not retried
    summary = AuditEvent.objects.get(action="bulk_archive_finished")
    assert summary.outcome == "failed" and summary.detail.endswith("5 archived, 1 not, of 6")


def test_a_short_retry_after_pauses_the_run_and_tries_again(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    rows = list(Session.objects.filter(tags_text__contains="|batch|").order_by("pk")[:4])
    victim = rows[0].session_id
    # Longer than the client's own retry budget (1 s in tests), within the run's cap (60 s).
    many.inject("429", count=1, retry_after="2", method="POST", path=f"{victim}/archive")
    run = wait_done(start(client, [r.pk for r in rows]))
    assert set(BulkItem.objects.filter(run=run).values_list("outcome", flat=True)) == {"ok"}
    events = AuditEvent.objects.filter(action="archive", session_id=victim).order_by("pk")
    assert [e.outcome for e in events] == ["failed", "ok"]
    assert "It is tried again after the pause." in events[0].detail
    assert len([p for m, p in many.calls if m == "POST" and victim in p]) == 2


def test_row_and_bulk_archive_store_the_same_row_and_the_same_event(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    twins = [
        fake.add_session(
            "org-acme",
            title="Twin",
            status="running",
            status_detail="working",
            category="bug_fixing",
            subcategory="Flaky tests",
            pull_requests=[{"pr_url": "https://github.com/acme/pay/pull/7", "pr_state": "open"}],
            tags=["twin"],
        )
        for _ in range(2)
    ]
    sync.sync_org(acme)
    by_row, by_bulk = (Session.objects.get(session_id=t["session_id"]) for t in twins)
    client.force_login(operator)
    response = client.post(f"/sessions/{by_row.pk}/archive/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    run = wait_done(start(client, [by_bulk.pk]))

    identity = {"id", "session_id", "url", "raw", "created_at", "created_day", "updated_at"}
    identity |= {"synced_at"}

    def stored(session: Session) -> dict[str, Any]:
        row = model_to_dict(Session.objects.get(pk=session.pk))
        return {k: v for k, v in row.items() if k not in identity}

    assert stored(by_row) == stored(by_bulk)
    # The bulk run's batched re-read brought the fresh detail the archive answer leaves null.
    assert stored(by_bulk)["status_detail"] == "user_request"
    assert stored(by_bulk)["category"] == "bug_fixing" and stored(by_bulk)["is_archived"]

    def event(session: Session) -> dict[str, Any]:
        found = model_to_dict(
            AuditEvent.objects.get(action="archive", session_id=session.session_id)
        )
        return {k: v for k, v in found.items() if k not in {"id", "at", "session_id", "detail"}}

    assert event(by_row) == event(by_bulk)
    assert event(by_row)["outcome"] == "ok" and event(by_row)["ip"] == "127.0.0.1"
    assert AuditEvent.objects.get(session_id=by_row.session_id).detail == ""
    assert AuditEvent.objects.get(session_id=by_bulk.session_id).detail == f"bulk #{run.pk}"


def test_the_page_says_what_holds_the_run_and_stops_polling_when_done(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    row = Session.objects.filter(org__org_id="org-acme", is_archived=False).first()
    assert row is not None
    run_pk = start(client, [row.pk])
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Queued, waiting for a worker:" in page and 'hx-trigger="every 1s"' in page
    assert "Archiving:" not in page
    # A worker took it and died: its lease ran out.
    BulkRun.objects.filter(pk=run_pk).update(
        worker="gone:1:x", lease_until=timezone.now() - timedelta(seconds=1)
    )
    page = client.get(f"/bulk/{run_pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Stopped; resuming:" in page and 'hx-trigger="every 1s"' in page
    assert "nothing already archived is sent again" in page
    assert "Archiving:" not in page
    BulkRun.objects.filter(pk=run_pk).update(lease_until=timezone.now() + timedelta(minutes=1))
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Archiving:" in page and "0 archived, 0 failed, 1 waiting of 1." in page
    BulkRun.objects.filter(pk=run_pk).update(worker="", lease_until=None)
    wait_done(run_pk)
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Done:" in page and "hx-trigger" not in page


def test_recovery_hands_back_runs_no_live_worker_holds(
    client: Client, many: Any, operator: Any, settings: Any
) -> None:
    client.force_login(operator)
    rows = list(Session.objects.filter(org__org_id="org-acme", is_archived=False)[:4])
    dead, alive, lost, fresh = (start(client, [r.pk]) for r in rows)
    now = timezone.now()
    BulkRun.objects.filter(pk=dead).update(worker="w:1:a", lease_until=now - timedelta(seconds=1))
    BulkRun.objects.filter(pk=alive).update(worker="w:2:b", lease_until=now + timedelta(minutes=1))
    # Never claimed for longer than a lease: its task was lost.
    BulkRun.objects.filter(pk=lost).update(started_at=now - timedelta(minutes=5))
    queued = DBTaskResult.objects.count()

    assert bulk.recover_stale_runs() == 2
    assert DBTaskResult.objects.count() == queued + 2
    assert BulkRun.objects.get(pk=dead).worker == ""
    assert BulkRun.objects.get(pk=alive).worker == "w:2:b"
    assert bulk.recover_stale_runs() == 0  # once per lease, not on every pass
    assert {BulkRun.objects.get(pk=pk).state for pk in (dead, alive, lost, fresh)} == {"running"}


def test_a_run_held_by_a_live_worker_is_left_to_it(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    row = Session.objects.filter(org__org_id="org-acme", is_archived=False).first()
    assert row is not None
    run_pk = start(client, [row.pk])
    alive = timezone.now() + timedelta(minutes=1)
    BulkRun.objects.filter(pk=run_pk).update(worker="elsewhere:1", lease_until=alive)
    many.reset_stats()

    bulk_task.call(run_pk)  # a second task for the run, on another worker

    assert many.calls == []
    assert BulkRun.objects.get(pk=run_pk).worker == "elsewhere:1"
    assert BulkItem.objects.get(run_id=run_pk).outcome == "pending"
    # Its lease runs out (the worker died): the next task takes the run over.
    BulkRun.objects.filter(pk=run_pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    bulk_task.call(run_pk)
    assert BulkRun.objects.get(pk=run_pk).state == "done"
    assert BulkItem.objects.get(run_id=run_pk).outcome == "ok"


def test_a_resumed_run_settles_what_the_dead_worker_left_working(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    rows = list(Session.objects.filter(tags_text__contains="|batch|").order_by("pk")[:3])
    run_pk = start(client, [r.pk for r in rows])
    landed, lost, unsent = BulkItem.objects.filter(run_id=run_pk).order_by("session__pk")
    # The dead worker had claimed all three: the first archive reached Devin, the second may
    # have (it did not), the third was claimed but never sent (no attempt).
    BulkItem.objects.filter(run_id=run_pk).update(outcome="working")
    long_ago = timezone.now() - timedelta(minutes=2)
    for item in (landed, lost):
        assert item.session is not None
        ActionAttempt.objects.create(
            org=item.session.org,
            session=item.session,
            devin_id=item.session.session_id,
            action="archive",
            actor=operator,
            context=f"bulk #{run_pk}",
            bulk_item=item,
            started_at=long_ago,
        )
    assert landed.session is not None
    many.store.archive("org-acme", landed.session.session_id)
    many.reset_stats()

    wait_done(run_pk)

    assert set(BulkItem.objects.filter(run_id=run_pk).values_list("outcome", flat=True)) == {"ok"}
    posted = [p.split("/")[-2] for m, p in many.calls if m == "POST"]
    assert sorted(posted) == sorted(
        [lost.session.session_id, unsent.session.session_id]  # type: ignore[union-attr]
    )
    assert not ActionAttempt.objects.filter(settled_at__isnull=True).exists()
    found = AuditEvent.objects.get(action="archive", session_id=landed.session.session_id)
    assert found.outcome == "ok" and "a re-read shows it archived" in found.detail
    assert AuditEvent.objects.filter(action="bulk_archive_finished").count() == 1


def test_the_summary_is_written_once(client: Client, many: Any, operator: Any) -> None:
    client.force_login(operator)
    row = Session.objects.filter(org__org_id="org-acme", is_archived=False).first()
    assert row is not None
    run = wait_done(start(client, [row.pk]))
    bulk_task.enqueue(run.pk)  # a duplicate task, as recovery may queue
    run_queued_tasks()
    assert AuditEvent.objects.filter(action="bulk_archive_finished").count() == 1


def test_a_resumed_run_stores_the_answers_a_dead_worker_had_not(
    client: Client, many: Any, operator: Any
) -> None:
    client.force_login(operator)
    rows = list(Session.objects.filter(tags_text__contains="|batch|").order_by("pk")[:3])
    run_pk = start(client, [r.pk for r in rows])
    # Archived at Devin and settled, but killed before its batch of answers was stored.
    for row in rows:
        many.store.archive("org-acme", row.session_id)
    BulkItem.objects.filter(run_id=run_pk).update(outcome="ok")
    many.reset_stats()

    wait_done(run_pk)

    assert Session.objects.filter(pk__in=[r.pk for r in rows], is_archived=True).count() == 3
    assert [m for m, _ in many.calls] == ["GET"]  # one list call re-read them; nothing re-sent


def test_a_run_builds_each_orgs_devin_client_once_not_once_an_item(
    client: Client, many: Any, operator: Any, settings: Any, monkeypatch: Any
) -> None:
    """Building a client decrypts the token and checks the base URL: once per org and slice
    (a thread or two may race to build the first), not for each of the 40 items."""
    settings.BULK_CONCURRENCY = 4
    built: list[str] = []
    make_client = Organization.client

    def counted(org: Organization) -> Any:
        built.append(org.org_id)
        return make_client(org)

    monkeypatch.setattr(Organization, "client", counted)
    client.force_login(operator)
    response = client.post("/sessions/bulk-archive/", {"scope": "filter", "tag": "batch"})
    run = wait_done(int(re.search(r"/bulk/(\d+)/", response["Location"]).group(1)))  # type: ignore[union-attr]
    assert run.items.filter(outcome=BulkItem.Outcome.OK).count() == 40
    assert Session.objects.filter(tags_text__contains="|batch|", is_archived=True).count() == 40
    # At most one per thread for the calls, and one for the batch's list re-read.
    assert len(built) <= 4 + 1, built


def test_a_run_stores_each_batch_of_answers_in_one_write_not_one_a_session(
    client: Client, many: Any, operator: Any, monkeypatch: Any
) -> None:
    """A batch's sessions (here the run's 40, re-read in one list call) are stored by one
    store_sessions call (two if some re-reads were older than their answers), each row still
    its own UPDATE: a transaction, a lock and the ACU days' lookup per batch, not per session
    (in-process, 400 items at 100 ms: 9.3-9.8 -> 5.7-7.1 ms of CPU an item)."""
    stores: list[int] = []
    store = sync.store_sessions

    def counted(org: Organization, items: Any, **kwargs: Any) -> Any:
        items = list(items)
        stores.append(len(items))
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", counted)
    client.force_login(operator)
    response = client.post("/sessions/bulk-archive/", {"scope": "filter", "tag": "batch"})
    run = wait_done(int(re.search(r"/bulk/(\d+)/", response["Location"]).group(1)))  # type: ignore[union-attr]
    assert run.items.filter(outcome=BulkItem.Outcome.OK).count() == 40
    archived = Session.objects.filter(tags_text__contains="|batch|", is_archived=True)
    assert archived.count() == 40
    # The re-read's fresh detail, which the archive answers leave out, is what was stored.
    assert set(archived.values_list("status_detail", flat=True)) == {"user_request"}
    assert 1 <= len(stores) <= 2 and sum(stores) == 40, stores
