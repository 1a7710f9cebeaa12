"""The filters' indexes (migration 0012): a filter pages in index order, and no value, however
long, makes an index row PostgreSQL refuses (~2.7 kB)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, transaction

from dashboard import devin, filters, search, sync
from dashboard.models import Organization, Session

pytestmark = pytest.mark.django_db
LONG = "x" * 5000


def api_session(n: int, **fields: Any) -> devin.Session:
    when = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) + n
    data = {
        "session_id": f"devin-{n:032x}",
        "url": "https://app.devin.ai/sessions/x",
        "status": "running",
        "tags": [],
        "org_id": "org-acme",
        "created_at": when,
        "updated_at": when,
        "acus_consumed": 1.0,
        "pull_requests": [],
        **fields,
    }
    return devin.parse_session(data)


def test_a_very_long_value_is_stored_cut_and_whole_in_raw() -> None:
    org = Organization.objects.create(name="Acme", org_id="org-acme")
    pr = {"pr_url": "https://github.com/acme/x/pull/1", "pr_state": LONG}
    hostile = api_session(
        1, status_detail=LONG, category=LONG, origin=LONG, pull_requests=[pr], tags=[LONG]
    )
    with transaction.atomic():  # PostgreSQL would refuse an index row over ~2.7 kB here
        sync.store_sessions(org, [hostile])
    stored = Session.objects.get(session_id=hostile.session_id)
    assert len(stored.status_detail) == len(stored.origin) == len(stored.category) == 100
    assert len(stored.pr_states) <= sync.PR_STATES_LIMIT
    assert stored.raw["origin"] == LONG and stored.tags == [LONG]  # the whole values are kept


@pytest.mark.parametrize("field", ["detail", "category", "origin"])
def test_a_filter_pages_in_its_index(field: str) -> None:
    column = {"detail": "status_detail"}.get(field, field)
    if connection.vendor == "postgresql":
        # PostgreSQL plans by statistics: on an empty table any index is as good as another.
        org = Organization.objects.create(name="Acme", org_id="org-acme")
        common = {"status_detail": "working", "category": "bug_fixing", "origin": "webapp"}
        sync.store_sessions(org, [api_session(n, **common) for n in range(3000)])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE dashboard_session")
    f = filters.SessionFilters({field: "anything"}, org_pks=None)
    qs = f.keyset().order(f.apply(Session.objects.filter(org_id__in=[1, 2])))[:51]
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
    assert f"session_{column}_updated" in plan
    if connection.vendor == "sqlite":
        assert "TEMP B-TREE" not in plan  # in index order, nothing sorted
    # PostgreSQL, estimating no match, may sort the none it expects after the index scan rather
    # than walk the index in order; the benchmark times the filters on real volumes.


TAG_QUERIES = [
    {"tag": "urgent"},
    {"tag": "URGENT"},
    {"tag": "urgent", "status": "error"},
    {"tag": "urgent", "view": "all"},
    {"tag": "urgent", "archived": "all"},
    {"tag": "%"},
    {"tag": "_rgent"},
    {"tag": "urgent|ops"},
    {"tag": "nothing"},
]


@pytest.mark.parametrize("few", [search.FEW, 0])  # the tag index's candidates: few, or too many
@pytest.mark.parametrize("cap", [3, 1000])
@pytest.mark.parametrize("query", TAG_QUERIES)
def test_a_tag_is_counted_as_its_rows_are_found(
    query: dict[str, str], cap: int, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The results count of a tag (its candidates from the tag index when they are few; on
    SQLite, when it is the only filter and they are not, its rows read through the tag index in
    pk order): what the filtered rows number, up to the cap."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(filters, "COUNT_CAP", cap)
    monkeypatch.setattr(search, "FEW", few)
    org = Organization.objects.create(name="Acme", org_id="org-acme")
    tag_sets = [["urgent"], ["urgent", "ops"], ["ops"], [], ["Urgent"], ["not-urgent"]]
    statuses = ["running", "error", "exit"]
    sync.store_sessions(
        org,
        [
            api_session(n, tags=tag_sets[n % 6], status=statuses[n % 3], is_archived=n % 5 == 0)
            for n in range(60)
        ],
    )
    base = Session.objects.filter(org_id__in=[org.pk])
    f = filters.SessionFilters(query, org_pks=None)
    expected = f.apply(base)
    with CaptureQueriesContext(connection) as queries:
        rows, count = f.apply_counted(base)
    assert count == min(expected.count(), cap + 1)
    assert set(rows.values_list("pk", flat=True)) == set(expected.values_list("pk", flat=True))
    # The sessions with the tag's first piece among their own (what the tag index holds).
    piece = query["tag"].split("|")[0].lower()
    candidates = [s for s in base if piece in s.tags_text.lower()[1:-1].split("|")]
    indexed = connection.vendor == "sqlite" and len(candidates) <= few
    from_index = connection.vendor == "sqlite" and set(query) <= {"tag", "view"} and not indexed
    joined = f"{search.TAG_TABLE} CROSS JOIN"
    assert any(joined in q["sql"] and "COUNT(" in q["sql"] for q in queries) is from_index
    assert any(search.TAG_TABLE in q["sql"] for q in queries) is (connection.vendor == "sqlite")
