"""The sessions page's text search (dashboard.search): the rows `icontains` finds, served by an
index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), kept in step on every write path.

Run on both databases: CI's PostgreSQL pass sets DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from dashboard import filters, search
from dashboard.models import Organization, Session

pytestmark = pytest.mark.django_db

TITLES = [
    "Fix flaky test in billing",
    "FLAKY checkout: retry",
    "fLaKy again",
    "100% coverage for ledger",
    "snake_case names",
    'Quote "this" please',
    "It's done",
    "Ünïcödé title",
    "straße",
    "Kelvin \u212a sign",  # folds to "k" in Unicode, not in SQLite's LIKE
    "",
    "ab",
]
QUERIES = [
    "a",  # one and two characters: no trigram, the plain scan
    "fl",
    "ab",
    "fla",
    "flaky",
    "FLAKY",
    "y te",
    "%",
    "100%",
    "_",
    "e_c",
    '"',
    '"this"',
    "'",
    "it's",
    "ünï",
    "ÜNÏ",
    "straße",
    "k sign",
    "\u212a sign",
    "devin-",
    "nothing matches this",
]


def icontains(qs: object, text: str) -> list[int]:
    """What the page found before the index: the plain `icontains` on both columns."""
    rows = Session.objects.filter(Q(title__icontains=text) | Q(session_id__icontains=text))
    return sorted(rows.values_list("pk", flat=True))


def found(text: str) -> list[int]:
    return sorted(search.matching(Session.objects.all(), text).values_list("pk", flat=True))


def make(org: Organization, n: int, title: str) -> Session:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    return Session(
        org=org,
        session_id=f"devin-{n:04x}{'c0ffee' if n % 2 else 'beef'}{n:06d}",
        title=title,
        status="running",
        created_at=when,
        updated_at=when,
    )


@pytest.fixture
def sessions() -> list[Session]:
    org = Organization.objects.create(name="Acme", org_id="org-acme")
    return Session.objects.bulk_create(make(org, n, t) for n, t in enumerate(TITLES))


@pytest.fixture
def caught_up() -> Iterator[None]:
    """The index in step with every row (no logged change left), checked before and after."""
    search.catch_up(connection)
    integrity_check()
    yield
    search.catch_up(connection)
    integrity_check()


def integrity_check() -> None:
    """FTS5's own check of the index against the rows it indexes (SQLite)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {search.FTS_TABLE} ({search.FTS_TABLE}, rank) "
                "VALUES ('integrity-check', 1)"
            )


@pytest.mark.parametrize("few", [search.FEW, 2])  # the candidates as a list, or a subquery
@pytest.mark.parametrize("text", QUERIES + ["c0ffee", "0003c0ffee000003", "BEEF0000"])
def test_search_finds_what_icontains_finds(
    sessions: list[Session], text: str, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "FEW", few)
    expected = icontains(Session.objects, text)
    assert found(text) == expected  # freshly written: the rows are in the log, not the index
    search.catch_up(connection)
    assert found(text) == expected  # indexed


def test_the_expected_rows(sessions: list[Session]) -> None:
    by_title = {s.title: s.pk for s in sessions}
    flaky = sorted(by_title[t] for t in TITLES[:3])
    assert found("flaky") == flaky
    assert found("FLAKY") == flaky
    assert found("100%") == [by_title["100% coverage for ledger"]]
    assert found("e_c") == [by_title["snake_case names"]]
    assert found('"this"') == [by_title['Quote "this" please']]
    assert found("it's") == [by_title["It's done"]]
    assert found("c0ffee") == sorted(s.pk for n, s in enumerate(sessions) if n % 2)
    assert found("nothing matches this") == []


def test_the_index_follows_every_write(sessions: list[Session], caught_up: None) -> None:
    first, second, third = sessions[:3]
    # update(): one row, as an archive or a live refresh stores it
    Session.objects.filter(pk=first.pk).update(title="Renamed to something else")
    # bulk_update: a sync's batch
    second.title = "Another renamed one"
    third.session_id = "devin-feedface"
    Session.objects.bulk_update([second, third], ["title", "session_id"])
    # bulk_create and delete
    fresh = Session.objects.bulk_create([make(first.org, 99, "Brand new flaky one")])[0]
    Session.objects.filter(pk=sessions[3].pk).delete()
    for text in ("flaky", "renamed", "something", "feedface", "100%", "coverage", "brand"):
        assert found(text) == icontains(Session.objects, text), text
    assert found("flaky") == [third.pk, fresh.pk]  # "fLaKy again", with its new id
    assert found("feedface") == [third.pk]


def test_a_batch_of_writes_is_indexed_in_one_go(sessions: list[Session], caught_up: None) -> None:
    org = sessions[0].org
    rows = Session.objects.bulk_create(
        make(org, 1000 + n, f"Batch {n} flaky") for n in range(search.BATCH + 5)
    )
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {search.LOG_TABLE}")
            assert cursor.fetchone()[0] < search.BATCH  # the BATCH-th entry indexed the log
    Session.objects.filter(pk__in=[r.pk for r in rows[:10]]).update(title="no longer")
    assert found("flaky") == icontains(Session.objects, "flaky")
    assert len(found("no longer")) == 10


def test_the_index_is_used(sessions: list[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    search.catch_up(connection)
    if connection.vendor == "postgresql":
        plan = query_plan(search.matching(Session.objects.all(), "flaky"))
        assert "session_title_trgm" in plan and "session_id_trgm" in plan
        return
    for text, indexed in (("flaky", True), ("fl", False)):
        with CaptureQueriesContext(connection) as queries:
            list(search.matching(Session.objects.all(), text))
        assert any(f"{search.FTS_TABLE} MATCH" in q["sql"] for q in queries) is indexed
    monkeypatch.setattr(search, "FEW", 0)  # many candidates: the index, as a subquery
    plan = query_plan(search.matching(Session.objects.all(), "flaky"))
    assert f"{search.FTS_TABLE} VIRTUAL TABLE INDEX" in plan


def query_plan(qs: object) -> str:
    sql, params = qs.query.sql_with_params()  # type: ignore[attr-defined]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        # A handful of rows: without this the planner rightly prefers reading the table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_index_survives_a_column_change(sessions: list[Session]) -> None:
    """A migration that alters a column of Session (as 0007 made the CharFields TextFields): on
    SQLite Django copies the table to a new one and drops the old, with its triggers, and
    `migrate` (its post_migrate) puts them back. On PostgreSQL the indexes follow the column."""
    old = Session._meta.get_field("title")
    new = models.TextField(blank=True, null=True)
    new.set_attributes_from_name("title")
    new.model = Session
    with connection.schema_editor() as editor:
        editor.alter_field(Session, old, new)
    try:
        call_command("migrate", verbosity=0)  # nothing to apply; post_migrate still runs
        org = sessions[0].org
        Session.objects.bulk_create([make(org, 77, "Written after the change, flaky")])
        Session.objects.filter(pk=sessions[1].pk).update(title="also renamed after")
        for text in ("flaky", "renamed after", "c0ffee"):
            assert found(text) == icontains(Session.objects, text), text
        search.catch_up(connection)
        integrity_check()
        assert found("flaky") == icontains(Session.objects, "flaky")
        if connection.vendor == "postgresql":
            plan = query_plan(search.matching(Session.objects.all(), "flaky"))
            assert "session_title_trgm" in plan
    finally:
        with connection.schema_editor() as editor:
            editor.alter_field(Session, new, old)
        call_command("migrate", verbosity=0)


def test_a_user_who_may_not_create_pg_trgm_is_told_what_to_run() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        # All inside the test's transaction, rolled back after it.
        cursor.execute("DROP EXTENSION pg_trgm CASCADE")
        cursor.execute("CREATE ROLE dashboard_no_rights NOLOGIN")
        cursor.execute("SET ROLE dashboard_no_rights")
    with pytest.raises(RuntimeError) as raised:
        search.ensure(connection)
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in str(raised.value)
    assert "superuser" in str(raised.value)


@pytest.mark.parametrize("few", [search.FEW, 2])  # the candidates as a list, or a subquery
@pytest.mark.parametrize("cap", [0, 1, 2, 100])
@pytest.mark.parametrize(
    "text",
    [
        "flaky",
        "FLAKY",
        "c0ffee",
        "beef",
        "e_c",
        "100%",
        '"this"',
        "ÜNÏ",
        "fl",
        "nothing matches this",
    ],
)
def test_a_capped_count_counts_what_icontains_finds(
    sessions: list[Session], text: str, cap: int, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """matching_counted: the rows of matching(), and their count up to cap + 1, whether the
    first candidates hold enough matches or the subquery counts (another filter beside it)."""
    monkeypatch.setattr(search, "FEW", few)
    others = Session.objects.exclude(pk=sessions[1].pk)
    expected = [pk for pk in icontains(Session.objects, text) if pk != sessions[1].pk]
    for _ in ("logged", "indexed"):
        narrowed, count = search.matching_counted(others, text, cap)
        assert count == min(len(expected), cap + 1)
        assert sorted(narrowed.values_list("pk", flat=True)) == expected
        search.catch_up(connection)


def test_a_common_word_is_counted_from_its_first_candidates(
    sessions: list[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the candidates are SQLite's (FTS5); PostgreSQL counts through its index")
    search.catch_up(connection)
    monkeypatch.setattr(search, "FEW", 3)  # "c0ffee": 6 candidates, more than FEW
    with CaptureQueriesContext(connection) as queries:
        assert search.matching_counted(Session.objects.all(), "c0ffee", 2)[1] == 3
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"]]
    assert len(counts) == 1 and "json_each" in counts[0] and "MATCH" not in counts[0]
    # Fewer matches than the cap among them: the subquery counts every candidate.
    with CaptureQueriesContext(connection) as queries:
        assert search.matching_counted(Session.objects.all(), "c0ffee", 10)[1] == 6
    assert "MATCH" in [q["sql"] for q in queries if "COUNT(" in q["sql"]][-1]


def test_a_common_word_is_counted_from_its_first_candidates_on_postgresql(
    sessions: list[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL counts the first FEW + 1 rows the trigram index yields, through a CTE the
    planner cannot push the other filters into: no bitmap of another index ANDed with it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite counts from its FTS5 candidates (the test above)")
    mine = Session.objects.filter(org_id__in=[sessions[0].org_id], is_archived=False)
    for cap, expected in ((2, 3), (10, 6)):  # past the cap; all candidates seen, under it
        with CaptureQueriesContext(connection) as queries:
            assert search.matching_counted(mine, "c0ffee", cap)[1] == expected
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"]]
        assert len(counts) == 1 and "WITH first AS MATERIALIZED" in counts[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {counts[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The other filters apply to the CTE's rows; the CTE reads only the trigram indexes.
    candidates = plan.split("CTE first", 1)[1].split("InitPlan", 1)[0]
    assert "session_id_trgm" in candidates and "org_id" not in candidates
    assert "org_id" in plan.rsplit("CTE Scan on first", 1)[1]  # the count's filter
    # More candidates than FEW, fewer matches than the cap among them: the planner counts.
    monkeypatch.setattr(search, "FEW", 3)
    with CaptureQueriesContext(connection) as queries:
        assert search.matching_counted(mine, "c0ffee", 10)[1] == 6
    assert len([q for q in queries if "COUNT(" in q["sql"]]) == 2


SEARCH_QUERIES = [
    {"q": "flaky"},
    {"q": "FLAKY", "archived": "all"},
    {"q": "flaky", "archived": "archived"},
    {"q": "flaky", "view": "running"},
    {"q": "flaky", "status": "error"},
    {"q": "flaky", "org": "ORG"},
    {"q": "c0ffee", "sort": "acus"},
    {"q": "fl"},
    {"q": "100%"},
    {"q": "nothing matches this"},
]


@pytest.mark.parametrize("few", [search.FEW, 3])
@pytest.mark.parametrize("cap", [2, 1000])
@pytest.mark.parametrize("query", SEARCH_QUERIES)
def test_the_results_count_of_a_search_with_other_filters(
    query: dict[str, str], cap: int, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sessions page's results count (SessionFilters.apply_counted) of a search beside
    other filters: what the filtered rows number, up to the cap, on both databases."""
    monkeypatch.setattr(filters, "COUNT_CAP", cap)
    monkeypatch.setattr(search, "FEW", few)
    orgs = [Organization.objects.create(name=n, org_id=f"org-{n}") for n in ("a", "b")]
    statuses = ["running", "error", "exit"]
    rows = [make(orgs[n % 2], n, title) for n, title in enumerate(TITLES * 3)]
    for n, row in enumerate(rows):
        row.status, row.is_archived = statuses[n % 3], n % 4 == 0
    Session.objects.bulk_create(rows)
    search.catch_up(connection)
    data = {k: str(orgs[1].pk) if v == "ORG" else v for k, v in query.items()}
    base = Session.objects.filter(org_id__in=[o.pk for o in orgs])
    f = filters.SessionFilters(data, org_pks=None)
    plain = f._narrow(base)[0].filter(
        Q(title__icontains=data["q"]) | Q(session_id__icontains=data["q"])
    )
    found, count = f.apply_counted(base)
    assert count == min(plain.count(), cap + 1)
    assert sorted(found.values_list("pk", flat=True)) == sorted(plain.values_list("pk", flat=True))
