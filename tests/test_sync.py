from __future__ import annotations

import functools
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import devin, sync, syncruns
from dashboard.models import AuditEvent, Session, SyncRun

pytestmark = pytest.mark.django_db


def fake_ids(fake: Any, org_id: str) -> set[str]:
    return {s["session_id"] for s in fake.sessions(org_id)}


def test_first_sync_is_full_and_stores_every_session_once(fake: Any, acme: Any) -> None:
    run = sync.sync_org(acme)
    assert run.state == SyncRun.State.OK, run.error
    assert run.full and run.since is None
    stored = set(Session.objects.filter(org=acme).values_list("session_id", flat=True))
    assert stored == fake_ids(fake, "org-acme")
    assert run.created == len(stored) and run.updated == 0
    archived_in_fake = {s["session_id"] for s in fake.sessions("org-acme") if s["is_archived"]}
    assert archived_in_fake, "the seed should include archived sessions"
    assert archived_in_fake == set(
        Session.objects.filter(org=acme, is_archived=True).values_list("session_id", flat=True)
    )


def test_second_sync_is_incremental_with_overlap(fake: Any, acme: Any, settings: Any) -> None:
    first = sync.sync_org(acme)
    target = fake.sessions("org-acme")[0]["session_id"]
    fake.update_session("org-acme", target, title="Renamed in Devin")
    fake.reset_stats()
    second = sync.sync_org(acme)
    assert second.state == SyncRun.State.OK
    assert not second.full
    # From the newest updated_at the first run saw, by Devin's clock.
    assert first.newest_updated_at is not None
    assert second.since == first.newest_updated_at - timedelta(
        seconds=settings.SYNC_OVERLAP_SECONDS
    )
    # Only what changed since the watermark comes back, not the whole org again.
    assert 1 <= second.seen < first.seen
    assert Session.objects.get(session_id=target).title == "Renamed in Devin"
    assert second.created == 0


def test_older_list_data_never_undoes_an_archive(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    row = Session.objects.filter(org=acme, is_archived=False).first()
    assert row is not None
    client = acme.client()
    # The sync read this page before the archive landed...
    stale = client.get_session(row.session_id)
    run_started = row.synced_at
    archived = client.archive_session(row.session_id)
    sync.store_sessions(acme, [archived], from_action=True)
    # ...and writes it after: the archive must survive.
    result = sync.store_sessions(acme, [stale], newer_than=run_started)
    assert result.skipped == 1
    assert Session.objects.get(pk=row.pk).is_archived


def test_tie_on_updated_at_keeps_a_row_written_during_the_run(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    row = Session.objects.filter(org=acme, is_archived=False).first()
    assert row is not None
    listed = acme.client().get_session(row.session_id)
    run_started = row.synced_at
    Session.objects.filter(pk=row.pk).update(
        is_archived=True, synced_at=run_started + timedelta(seconds=1)
    )
    sync.store_sessions(acme, [listed], newer_than=run_started)
    assert Session.objects.get(pk=row.pk).is_archived


def test_action_answer_nulls_keep_known_category(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    row = Session.objects.filter(org=acme, is_archived=False).exclude(category="").first()
    assert row is not None
    answer = acme.client().archive_session(row.session_id)
    assert answer.category is None  # the API leaves it null on actions
    sync.store_sessions(acme, [answer], from_action=True)
    stored = Session.objects.get(pk=row.pk)
    assert stored.category == row.category
    assert stored.subcategory == row.subcategory
    assert stored.is_archived


def test_upsert_is_bulk(fake: Any, acme: Any, django_assert_max_num_queries: Any) -> None:
    items = list(acme.client().list_page(devin.SessionQuery(first=200)).items)
    assert len(items) >= 20
    # 9: one of them is the insight rollup's upsert, one statement for the whole batch; on
    # PostgreSQL one more, the rollup's advisory lock (insightdays._lock).
    most = 9 + (connection.vendor == "postgresql")
    with django_assert_max_num_queries(most):
        sync.store_sessions(acme, items)
    with django_assert_max_num_queries(most):
        sync.store_sessions(acme, items)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\ufffdb"),
        ("lone \ud800", "lone \ufffd"),
        ("emoji \U0001f600", "emoji \U0001f600"),  # a surrogate pair in JSON: kept whole
        ("backslash \\u0000", "backslash \\u0000"),  # the text, not a NUL
    ],
)
def test_storable_cleans_every_string_and_only_unstorable_characters(
    fake: Any, acme: Any, text: str, stored: str
) -> None:
    item = acme.client().list_page(devin.SessionQuery(first=1)).items[0]
    values = sync.session_fields(item)
    values["title"] = text
    values["raw"] = {**values["raw"], "structured_output": {text: [text, {"k": text}]}}
    cleaned = sync.storable(values)
    assert cleaned["title"] == stored
    assert cleaned["raw"]["structured_output"] == {stored: [stored, {"k": stored}]}
    assert cleaned["url"] == values["url"] and cleaned["created_at"] == values["created_at"]


def test_failed_sync_records_the_reason_and_keeps_sessions(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    before = Session.objects.filter(org=acme).count()
    acme.set_token("cog_" + "Z" * 40)
    acme.save()
    run = sync.sync_org(acme)
    assert run.state == SyncRun.State.FAILED
    assert "rejected (401)" in run.error
    assert Session.objects.filter(org=acme).count() == before
    event = AuditEvent.objects.filter(action="sync").latest("at")
    assert event.outcome == "failed"


def test_sync_command_reports_counts(fake: Any, acme: Any, globex: Any) -> None:
    out = StringIO()
    call_command("sync_sessions", stdout=out)
    assert "org-acme: full sync ok" in out.getvalue()
    assert "org-globex: full sync ok" in out.getvalue()
    out = StringIO()
    call_command("sync_sessions", "--org", "org-acme", stdout=out)
    assert "org-acme: incremental sync ok" in out.getvalue()
    assert "globex" not in out.getvalue()


def test_sync_command_fails_loudly(fake: Any, acme: Any) -> None:
    with pytest.raises(CommandError, match="No organization with id org-nope"):
        call_command("sync_sessions", "--org", "org-nope")
    fake.inject("status", count=None, status=500)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("sync_sessions", stderr=err)
    assert "sync failed" in err.getvalue()


def test_pages_walk_every_session_through_the_client(fake: Any, acme: Any) -> None:
    client: devin.DevinClient = acme.client()
    pages = client.list_sessions(devin.SessionQuery(first=7))
    seen = [s.session_id for page in pages for s in page.items]
    assert len(seen) == len(set(seen)) == len(fake.sessions("org-acme"))


def test_a_sync_stores_pages_batch_sessions_at_a_time(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "BATCH", 8)
    monkeypatch.setattr(devin, "SessionQuery", functools.partial(devin.SessionQuery, first=5))
    store = sync.store_sessions
    sizes: list[int] = []

    def counted(org: Any, items: Any, **kwargs: Any) -> Any:
        sizes.append(len(items))
        return store(org, items, **kwargs)

    monkeypatch.setattr(sync, "store_sessions", counted)
    run = sync.sync_org(acme)
    assert run.state == SyncRun.State.OK, run.error
    listed = fake.sessions("org-acme")
    active = sum(1 for s in listed if not s["is_archived"])
    # Every two pages (10 >= 8), and what is left at the end of each listing.
    assert sizes[: active // 10] == [10] * (active // 10)
    assert sum(sizes) == run.seen == len(listed) and max(sizes) == 10
    assert run.pages == -(-active // 5) + -(-(len(listed) - active) // 5)
    assert (run.created, run.updated) == (len(listed), 0)
    assert Session.objects.filter(org=acme).count() == len(listed)


def test_new_sessions_store_the_api_json_whole_and_cleaned(fake: Any, acme: Any) -> None:
    """New rows get `raw` as JSON text from the store (not encoded by the field): it must read
    back as the same object on both databases, cleaned like every other value."""
    hostile = fake.sessions("org-acme")[2]["session_id"]
    fake.update_session("org-acme", hostile, structured_output={"k\u0000": ["a\u0000b"]})
    run = sync.sync_org(acme)
    assert run.created == len(fake.sessions("org-acme"))
    client = acme.client()
    for session_id in (fake.sessions("org-acme")[0]["session_id"], hostile):
        row = Session.objects.get(org=acme, session_id=session_id)
        expected = sync.storable(sync.session_fields(client.get_session(session_id)))
        assert isinstance(row.raw, dict) and row.raw == expected["raw"]
    stored = Session.objects.get(org=acme, session_id=hostile).raw["structured_output"]
    assert stored == {"k\ufffd": ["a\ufffdb"]}


def test_changed_sessions_are_stored_whole_as_a_first_store_would(fake: Any, acme: Any) -> None:
    sync.sync_org(acme)
    changes: list[dict[str, Any]] = [
        {"title": "Renamed", "tags": ["a", "b"], "status": "exit", "status_detail": None},
        {
            "acus_consumed": 99.5,
            "pull_requests": [{"pr_url": "https://x.test/1", "pr_state": "merged"}],
        },
        {"is_archived": True, "title": "Gone \u0000 quiet", "structured_output": {"k": [1, 2]}},
    ]
    targets = [s["session_id"] for s in fake.sessions("org-acme")[3:6]]
    for session_id, fields in zip(targets, changes, strict=True):
        fake.update_session("org-acme", session_id, **fields)
    run = sync.sync_org(acme)
    assert run.updated == 3 and run.created == 0
    client = acme.client()
    for session_id in targets:
        row = Session.objects.get(org=acme, session_id=session_id)
        expected = sync.storable(sync.session_fields(client.get_session(session_id)))
        assert {name: getattr(row, name) for name in expected} == expected
        assert row.synced_at > run.started_at
    assert Session.objects.get(session_id=targets[1]).acus_consumed == 99.5


def test_old_runs_are_pruned_but_the_last_success_stays(fake: Any, acme: Any) -> None:
    first = sync.sync_org(acme)
    fake.inject("status", count=None, status=500)
    for _ in range(syncruns.KEEP_RUNS + 5):
        assert sync.sync_org(acme).state == SyncRun.State.FAILED
    fake.clear_faults()
    runs = SyncRun.objects.filter(org=acme)
    assert runs.count() == syncruns.KEEP_RUNS + 1
    assert runs.filter(pk=first.pk).exists()  # the incremental watermark survives
    assert sync.sync_org(acme).since is not None
    assert AuditEvent.objects.filter(action="sync").count() == syncruns.KEEP_RUNS + 7


def test_a_running_sync_records_its_counts_with_each_batch_not_each_page(
    fake: Any, acme: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync, "BATCH", 8)
    monkeypatch.setattr(sync, "PROGRESS_SECONDS", 3600)
    monkeypatch.setattr(devin, "SessionQuery", functools.partial(devin.SessionQuery, first=5))
    with CaptureQueriesContext(connection) as queries:
        run = sync.sync_org(acme)
    assert run.state == SyncRun.State.OK, run.error
    counted = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "dashboard_syncrun"')]
    counted = [sql for sql in counted if '"seen"' in sql and '"finished_at"' not in sql]
    # The first page (nothing recorded yet), each stored batch (every 2 pages of 5 >= 8), and the
    # end of each listing with sessions left to store; not each of the run's pages.
    active = sum(1 for s in fake.sessions("org-acme") if not s["is_archived"])
    assert len(counted) < run.pages
    assert len(counted) >= active // 10
    assert SyncRun.objects.get(pk=run.pk).seen == run.seen == len(fake.sessions("org-acme"))


@pytest.mark.django_db(transaction=True)
def test_only_the_walks_stores_skip_waiting_for_the_wal(fake: Any, acme: Any) -> None:
    with CaptureQueriesContext(connection) as queries:
        sync.sync_org(acme)
    relaxed = [q for q in queries if "synchronous_commit" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        sync.store_sessions(acme, acme.client().list_page(devin.SessionQuery(first=3)).items)
    assert not [q for q in queries if "synchronous_commit" in q["sql"]]
    if connection.vendor != "postgresql":
        assert not relaxed
        return
    # One SET LOCAL per stored batch (the fake's org fits in one of each listing).
    assert [q["sql"] for q in relaxed] == ["SET LOCAL synchronous_commit = off"] * 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
