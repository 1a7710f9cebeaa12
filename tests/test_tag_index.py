"""The tag filter's index (dashboard.search.tagged, migration 0017): the rows the plain filter
(tags_text contains "|tag|") finds, whichever write path stored them, on both databases.

Run on both databases: CI's PostgreSQL pass sets DATABASE_URL."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection, models, transaction

from dashboard import search, sync
from dashboard.models import Organization, Session
from tests.test_filter_indexes import api_session

pytestmark = pytest.mark.django_db

TAG_SETS = [
    ["urgent"],
    ["urgent", "ops"],
    ["Urgent"],
    ["URGENT", "urgent"],
    ["not-urgent"],
    [],
    ["50%", "a_b"],
    ["a|b", "c"],  # a pipe inside a tag: its tags_text "|a|b|c|" matches "a", "b", "a|b"
    ['say "hi"', "it's"],
    ["Ünïcödé", "straße"],
    ["", "empty before"],
    ["\\", "back\\slash"],
    ["rare"],
]
TAGS = [
    "urgent",
    "URGENT",
    "Urgent",
    "ops",
    "not-urgent",
    "urgent|ops",
    "ops|urgent",
    "%",
    "50%",
    "_",
    "a_b",
    "a?b",
    "a",
    "b",
    "a|b",
    "b|c",
    "|c",
    "c|",
    '"hi"',
    'say "hi"',
    "it's",
    "ünïcödé",
    "Ünïcödé",
    "straße",
    "\\",
    "back\\slash",
    "rare",
    "RARE",
    "nosuchtag",
]


def plain(tag: str) -> list[int]:
    """What the page found before the index: the plain filter."""
    rows = Session.objects.filter(tags_text__contains=f"|{tag}|")
    return sorted(rows.values_list("pk", flat=True))


def found(tag: str) -> list[int]:
    page, counted = search.tagged(Session.objects.all(), tag)
    pks = sorted(page.values_list("pk", flat=True))
    if counted is not None:
        assert sorted(counted.values_list("pk", flat=True)) == pks
    return pks


def assert_found_as_plain(tags: list[str] = TAGS) -> None:
    for tag in tags:
        assert found(tag) == plain(tag), tag


def store(org: Organization, first: int, tag_sets: list[list[str]]) -> None:
    sync.store_sessions(org, [api_session(first + n, tags=tags) for n, tags in enumerate(tag_sets)])


def index_rows() -> set[tuple[str, int]]:
    """The tag table's rows (SQLite), and what they should be: every session's pieces."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tag, session FROM {search.TAG_TABLE}")
        return set(cursor.fetchall())


def expected_rows() -> set[tuple[str, int]]:
    return {
        ("".join(c.lower() if c.isascii() else c for c in piece), pk)  # as SQLite's lower()
        for pk, text in Session.objects.values_list("pk", "tags_text")
        if text
        for piece in text[1:-1].split("|")
    }


@pytest.fixture
def org() -> Organization:
    org = Organization.objects.create(name="Acme", org_id="org-acme")
    store(org, 0, TAG_SETS)
    return org


@pytest.mark.parametrize("few", [search.FEW, 0])  # candidates as a list, or the plain filter
def test_the_index_finds_what_the_filter_finds(
    org: Organization, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "FEW", few)
    assert found("urgent") == plain("urgent") != []
    assert len(found("a")) == 1 and found("a|b") == found("b") == found("c") == found("a")
    assert found("nosuchtag") == []
    assert_found_as_plain()


def test_a_rare_tag_reads_the_index_and_a_common_one_does_not(
    org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, counted = search.tagged(Session.objects.all(), "rare")
    if connection.vendor != "sqlite":
        assert counted is None
        assert search.POSTGRES_TAG_INDEX in query_plan(page)
        return
    assert counted is not None and "json_each" in str(counted.query)
    monkeypatch.setattr(search, "FEW", 2)  # "urgent" is on more sessions than that
    assert search.tagged(Session.objects.all(), "urgent")[1] is None
    assert search.tagged(Session.objects.all(), "rare")[1] is not None


def test_the_index_follows_every_write(org: Organization) -> None:
    sessions = list(Session.objects.order_by("pk"))
    # The sync: new sessions, changed tags, removed tags (a session re-stored, newer).
    store(org, 100, [["fresh", "rare"], ["Fresh"]])
    changed = [["changed"], [], ["rare", "URGENT"]]
    sync.store_sessions(
        org,
        [api_session(n, tags=tags, updated_at=2_000_000_000 + n) for n, tags in enumerate(changed)],
    )
    # update(), bulk_update, bulk_create, delete, and raw SQL
    Session.objects.filter(pk=sessions[3].pk).update(tags_text="|by update|")
    sessions[4].tags_text = "|by bulk update|rare|"
    Session.objects.bulk_update([sessions[4]], ["tags_text"])
    made = Session.objects.bulk_create([Session(**_copy(sessions[5], "|bulk created|rare|"))])[0]
    Session.objects.filter(pk=sessions[12].pk).delete()  # the only "rare" of the fixture
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE dashboard_session SET tags_text = %s WHERE id = %s", ["|raw|", sessions[6].pk]
        )
    new_tags = ["fresh", "changed", "by update", "by bulk update", "bulk created", "raw"]
    assert_found_as_plain(TAGS + new_tags)
    assert found("rare") == sorted([*plain("rare")]) and len(found("rare")) == 4
    assert found("50%") == []  # its session now says "raw"
    assert made.pk in found("bulk created")
    if connection.vendor == "sqlite":
        assert index_rows() == expected_rows()
    # Before and after the search log's batch: the tag index does not wait for it.
    search.catch_up(connection)
    assert_found_as_plain(TAGS + new_tags)


def _copy(session: Session, tags_text: str) -> dict[str, object]:
    fields = {f.attname: getattr(session, f.attname) for f in Session._meta.concrete_fields}
    return {**fields, "id": None, "session_id": "devin-copy", "tags_text": tags_text}


@pytest.mark.django_db(transaction=True)
def test_a_migration_that_rebuilds_the_table_rebuilds_the_index(org: Organization) -> None:
    """On SQLite a column change copies dashboard_session and drops its triggers: rows written
    before `migrate` (post_migrate: search.repair) are indexed by the rebuild."""
    old = Session._meta.get_field("tags_text")
    new = models.TextField(blank=True, default="", null=True)
    new.set_attributes_from_name("tags_text")
    new.model = Session
    with connection.schema_editor() as editor:
        editor.alter_field(Session, old, new)
    try:
        store(org, 200, [["written meanwhile"]])  # no trigger on SQLite: not in the index yet
        call_command("migrate", verbosity=0)  # nothing to apply; post_migrate still runs
        store(org, 300, [["written after", "rare"]])
        assert_found_as_plain([*TAGS, "written meanwhile", "written after"])
        assert found("written meanwhile") != []
        if connection.vendor == "sqlite":
            assert index_rows() == expected_rows()
    finally:
        with connection.schema_editor() as editor:
            editor.alter_field(Session, new, old)
        call_command("migrate", verbosity=0)


def query_plan(qs: object) -> str:
    sql, params = qs.query.sql_with_params()  # type: ignore[attr-defined]
    with transaction.atomic(), connection.cursor() as cursor:
        # A handful of rows: without this the planner rightly prefers reading the table.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())
