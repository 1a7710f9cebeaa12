"""Text search of sessions (title or session id contains the text), served by an index.

`icontains` alone is LIKE '%…%', which no B-tree serves: at 1M sessions a search read every row
(0.7-3.8 s, docs/performance.md). What serves it depends on the database, and either way the
rows found are exactly `icontains`'s: the index only narrows the candidates, the LIKE decides.

- PostgreSQL: pg_trgm GIN indexes on UPPER(title) and UPPER(session_id), the very expressions
  `icontains` compares, so the planner uses them for the query as it always was; only the
  results count fixes its plan (the index's first candidates in a CTE: matching_counted).
- SQLite: an FTS5 table with the trigram tokenizer over (title, session_id), external content (no
  copy of the text), kept in step by triggers on dashboard_session: sessions are written by
  bulk_create, bulk_update, update() and deletes alike, and only triggers see them all.
  The triggers do not index a row at once: FTS5 (3.40) writes an index segment for every
  statement that touches it, so a row at a time cost ~110 µs of CPU a session written (a full
  sync of 100k: +11 s). They log the change in `LOG_TABLE` instead, and every `BATCH`th entry
  indexes the whole log in one statement (~30 µs a session). Until then a logged session is
  found by the LIKE alone: a search reads the index's candidates plus the logged rows, so it never
  misses a session, whenever it was written.

Texts of one or two characters have no trigram: they take the plain scan, which for so short a
substring fills a page after a few rows. (On PostgreSQL the planner decides; it knows as much.)

The tag filter (`tags_text` contains "|tag|", filters.py) is served the same way: the LIKE decides,
an index narrows (`tagged`). A rare tag was a read of every row (1M sessions: ~2.8 s on SQLite).
- PostgreSQL: a pg_trgm GIN index on tags_text (`contains` is a case-sensitive LIKE there).
- SQLite: `TAG_TABLE` (tag, session) holds, for each session, the pieces of its tags_text between
  its pipes, lower-cased as SQLite's LIKE folds (ASCII only), kept by triggers: a B-tree insert
  each, cheap enough not to need the log. Any text containing "|t|" has t as one of those pieces,
  whatever the text, so the table's candidates hold every match; stale rows (a write path no
  trigger saw) only add candidates, and `repair` rebuilds the table after a migration.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, Q, QuerySet
from django.db.models.expressions import RawSQL

MIN_INDEXED = 3  # the shortest text a trigram index can answer
FTS_TABLE = "dashboard_session_search"
LOG_TABLE = "dashboard_session_search_log"
# Log entries indexed together: fewer statements write fewer, bigger segments (100k sessions
# written 200 a transaction: 3.0 s of CPU at 1,000, against 11 s a row at a time), and more
# logged rows are more rows for each search to read by LIKE (1,000: about a millisecond).
BATCH = 1000
# Up to this many candidates, a search hands the database their pks; past it, the subquery.
FEW = 2000

# `add`: this text, a session's current one, is not in the index yet. `drop`: this text is in
# the index but no longer true (changed or deleted); external content needs it to remove it.
# Invariants: a session has at most one `add`, holding its current text, and a session with none
# has exactly its current text in the index.
SQLITE_TABLES = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        title, session_id, content='dashboard_session', content_rowid='id', tokenize='trigram'
    )""",
    f"""CREATE TABLE IF NOT EXISTS {LOG_TABLE} (
        seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id INTEGER NOT NULL, title TEXT,
        session_id TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {LOG_TABLE}_id ON {LOG_TABLE} (id, kind)",
]
_DROP_OLD = (
    f"INSERT INTO {LOG_TABLE} (kind, id, title, session_id) "
    "SELECT 'drop', old.id, old.title, old.session_id "
    f"WHERE NOT EXISTS (SELECT 1 FROM {LOG_TABLE} WHERE id = old.id AND kind = 'add');"
)
_FORGET_ADD = f"DELETE FROM {LOG_TABLE} WHERE id = old.id AND kind = 'add';"
_ADD_NEW = (
    f"INSERT INTO {LOG_TABLE} (kind, id, title, session_id) "
    "VALUES ('add', new.id, new.title, new.session_id);"
)
# Reads the log alone: a trigger that named dashboard_session would break Django's rebuild of
# that table (SQLite checks every trigger when it renames the new copy into place).
CATCH_UP = [
    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, title, session_id) "
    f"SELECT 'delete', id, title, session_id FROM {LOG_TABLE} WHERE kind = 'drop' ORDER BY seq;",
    f"INSERT INTO {FTS_TABLE} (rowid, title, session_id) "
    f"SELECT id, title, session_id FROM {LOG_TABLE} WHERE kind = 'add';",
    f"DELETE FROM {LOG_TABLE};",
]
SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"AFTER INSERT ON dashboard_session BEGIN {_ADD_NEW} END",
    # Only when a searched column changes: a sync rewrites every column of a changed row.
    f"{FTS_TABLE}_update": (
        "AFTER UPDATE OF id, title, session_id ON dashboard_session "
        "WHEN old.id IS NOT new.id OR old.title IS NOT new.title "
        "OR old.session_id IS NOT new.session_id "
        f"BEGIN {_DROP_OLD} {_FORGET_ADD} {_ADD_NEW} END"
    ),
    f"{FTS_TABLE}_delete": f"AFTER DELETE ON dashboard_session BEGIN {_DROP_OLD} {_FORGET_ADD} END",
    f"{FTS_TABLE}_batch": (
        f"AFTER INSERT ON {LOG_TABLE} WHEN new.seq >= {BATCH} BEGIN {' '.join(CATCH_UP)} END"
    ),
}

TAG_TABLE = "dashboard_session_tag"


def _pieces(row: str) -> str:
    """json_each over the pieces of `row`.tags_text between its first and last characters,
    split at "|": json_quote escapes the text, and "|" is never part of an escape."""
    return (
        f"json_each('[' || replace(json_quote(substr({row}.tags_text, 2, "
        f"length({row}.tags_text) - 2)), '|', '\",\"') || ']')"
    )


_TAG_NEW = (
    f"INSERT OR IGNORE INTO {TAG_TABLE} (tag, session) "
    f"SELECT lower(value), new.id FROM {_pieces('new')} WHERE new.tags_text <> '';"
)
_UNTAG_OLD = (
    f"DELETE FROM {TAG_TABLE} WHERE session = old.id "
    f"AND tag IN (SELECT lower(value) FROM {_pieces('old')});"
)
TAG_TABLES = [
    f"""CREATE TABLE IF NOT EXISTS {TAG_TABLE} (
        tag TEXT NOT NULL, session INTEGER NOT NULL, PRIMARY KEY (tag, session)
    ) WITHOUT ROWID""",
]
TAG_TRIGGERS = {
    f"{TAG_TABLE}_insert": f"AFTER INSERT ON dashboard_session BEGIN {_TAG_NEW} END",
    f"{TAG_TABLE}_update": (
        "AFTER UPDATE OF id, tags_text ON dashboard_session "
        "WHEN old.id IS NOT new.id OR old.tags_text IS NOT new.tags_text "
        f"BEGIN {_UNTAG_OLD} {_TAG_NEW} END"
    ),
    f"{TAG_TABLE}_delete": f"AFTER DELETE ON dashboard_session BEGIN {_UNTAG_OLD} END",
}
# Fills the table afresh from every session (a migration, a bulk load without the triggers).
TAG_REBUILD = [
    f"DELETE FROM {TAG_TABLE}",
    f"INSERT OR IGNORE INTO {TAG_TABLE} (tag, session) "
    f"SELECT lower(value), new.id FROM dashboard_session AS new, {_pieces('new')} "
    "WHERE new.tags_text <> ''",
]
POSTGRES_TAG_INDEX = "session_tags_trgm"

POSTGRES_EXTENSION_HELP = (
    "The search index needs PostgreSQL's pg_trgm extension, and this database user may not "
    "create it. Ask a superuser (or the database owner) to run, in this database:\n"
    "    CREATE EXTENSION IF NOT EXISTS pg_trgm;\n"
    "then run `manage.py migrate` again."
)
# `icontains` compares UPPER("col"::text); the index must be on that expression.
POSTGRES_INDEXES = {
    "session_title_trgm": "UPPER(title::text)",
    "session_id_trgm": "UPPER(session_id::text)",
}


def matching[M: Model](qs: QuerySet[M], text: str) -> QuerySet[M]:
    """`qs` (of sessions) narrowed to those whose title or session id contains `text`, ignoring
    case."""
    return _matching(qs, text)[0]


def matching_counted[M: Model](qs: QuerySet[M], text: str, cap: int) -> tuple[QuerySet[M], int]:
    """matching(qs, text), and how many rows it has, counting no further than cap + 1.

    Counted from the candidates' pks as a list, read by json_each: SQLite then looks each one
    up. (Written out as `IN (1, 2, …)`, a list of a thousand made it walk an org index past
    every active session instead: q=flaky at 100k, 1,256 candidates, 22 -> 4 ms; a 4-digit id
    fragment at 1M, 389, 160 -> 2 ms.) A common word has more than FEW candidates, and counting
    through the subquery materialises all of them (q=flaky at 1M: 12,560, 13 ms); the first
    FEW often hold cap + 1 matches already, and if they do, so does the whole.

    PostgreSQL counts the same way, the first FEW + 1 candidates being what the trigram index
    (or, for a very common word, the table) yields first, read through a CTE: the planner
    cannot push the other filters into it, so it cannot AND the trigram bitmap with an index
    that serves them. Left to itself, depending on ANALYZE's sample, it sometimes did: for
    q=flaky at 1M a bitmap of the org index's million entries, 95 of 118 ms (`EXPLAIN
    ANALYZE`; docs/performance.md). Past FEW candidates and under the cap, the planner counts.
    """
    narrowed, candidates, every = _matching(qs, text)
    if candidates is None:
        if len(text) >= MIN_INDEXED and connections[qs.db].vendor == "postgresql":
            found, seen = _count_first_candidates(narrowed, text, cap)
            if found > cap or (seen is not None and seen <= FEW):
                return narrowed, found
        return narrowed, narrowed[: cap + 1].count()
    listed = RawSQL("SELECT value FROM json_each(%s)", [json.dumps(candidates)])
    found = qs.filter(_contains(text), pk__in=listed)[: cap + 1].count()
    if every or found > cap:
        return narrowed, found
    return narrowed, narrowed[: cap + 1].count()


def _count_first_candidates[M: Model](
    narrowed: QuerySet[M], text: str, cap: int
) -> tuple[int, int | None]:
    """PostgreSQL: how many of the first FEW + 1 rows containing `text` are in `narrowed` (up
    to cap + 1), and, if no more than cap, how many those first rows were. One statement: the
    candidates are a MATERIALIZED CTE, counted only when the count stopped short of the cap."""
    connection = connections[narrowed.db]
    table = connection.ops.quote_name(narrowed.model._meta.db_table)
    first = narrowed.model._base_manager.db_manager(narrowed.db).filter(_contains(text))
    first_sql, first_params = first[: FEW + 1].query.get_compiler(narrowed.db).as_sql()
    read = _read_from(narrowed, cap, f"first AS {table}")
    if read is None:
        return narrowed[: cap + 1].count(), None
    sql, params = read
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH first AS MATERIALIZED ({first_sql}), "
            f"found AS (SELECT COUNT(*) AS n FROM ({sql}) AS capped) "
            "SELECT n, CASE WHEN n > %s THEN NULL ELSE (SELECT COUNT(*) FROM first) END "
            "FROM found",
            [*first_params, *params, cap],
        )
        found, seen = cursor.fetchone()
    return int(found), seen


def _read_from[M: Model](qs: QuerySet[M], cap: int, source: str) -> tuple[str, list[Any]] | None:
    """The SQL of qs's first cap + 1 pks with its table read from `source` (SQL that yields the
    table's rows under its name), and its params; None if the query is not one table."""
    sql, params = qs.order_by().values("pk")[: cap + 1].query.get_compiler(qs.db).as_sql()
    table = connections[qs.db].ops.quote_name(qs.model._meta.db_table)
    read = sql.replace(f"FROM {table} WHERE ", f"FROM {source} WHERE ", 1)
    return (read, list(params)) if read != sql else None


def _contains(text: str) -> Q:
    return Q(title__icontains=text) | Q(session_id__icontains=text)


def _matching[M: Model](qs: QuerySet[M], text: str) -> tuple[QuerySet[M], list[int] | None, bool]:
    """matching(qs, text); the pks of its candidates as far as the index was read (None: no
    index read), and whether they are every candidate."""
    contains = _contains(text)
    if len(text) < MIN_INDEXED or connections[qs.db].vendor != "sqlite":
        return qs.filter(contains), None, False
    # A quoted FTS5 string is literal text, a quote in it written twice. The trigram tokenizer
    # matches it as a substring, case folded.
    phrase = '"' + text.replace('"', '""') + '"'
    candidates = (
        f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "
        f"UNION ALL SELECT id FROM {LOG_TABLE} WHERE kind = 'add'"
    )
    with connections[qs.db].cursor() as cursor:
        cursor.execute(f"{candidates} LIMIT {FEW + 1}", [phrase])
        few = [pk for (pk,) in cursor.fetchall()]
    if len(few) <= FEW:
        # As a list: SQLite (without ANALYZE statistics, as Django leaves it) would otherwise
        # walk the sort's index past every active session, testing each against the subquery
        # (a rare id fragment at 1M: ~190 ms; from the list, a few lookups).
        return qs.filter(contains, pk__in=few), few, True
    # Many: walking the sort's index does find a page's worth soon.
    return qs.filter(contains, pk__in=RawSQL(candidates, [phrase])), few, False


def tagged[M: Model](qs: QuerySet[M], tag: str) -> tuple[QuerySet[M], QuerySet[M] | None]:
    """`qs` narrowed to the sessions carrying `tag` (tags_text contains "|tag|"); and, when the
    index found few candidates, the same rows as a queryset to count (None: count the first).

    A common tag (more than FEW candidates) keeps the plain filter: the sort's index fills a page
    after a few hundred rows (tag=urgent), which no candidate list would beat. A rare one (1M
    sessions: ~2.8 s read row by row) becomes a few lookups: its candidates as a list for the
    page, read by json_each for the count (matching_counted says why the two differ).
    """
    contains = Q(tags_text__contains=f"|{tag}|")
    if connections[qs.db].vendor != "sqlite":
        return qs.filter(contains), None
    # Every match has the tag's first piece as a piece of its own tags_text (see _pieces).
    with connections[qs.db].cursor() as cursor:
        cursor.execute(
            f"SELECT session FROM {TAG_TABLE} WHERE tag = lower(%s) LIMIT {FEW + 1}",
            [tag.split("|")[0]],
        )
        few = [pk for (pk,) in cursor.fetchall()]
    if len(few) > FEW:
        return qs.filter(contains), None
    listed = RawSQL("SELECT value FROM json_each(%s)", [json.dumps(few)])
    return qs.filter(contains, pk__in=few), qs.filter(contains, pk__in=listed)


def count_tagged[M: Model](qs: QuerySet[M], tag: str, cap: int) -> int:
    """How many rows `qs`, narrowed to a common `tag` and nothing else, has up to cap + 1.

    On SQLite its rows are read from the tag index's candidates in pk order (a CROSS JOIN keeps
    the order written): each candidate is a lookup, but only ~1,200 of them give COUNT_CAP + 1
    matches for a tag on a sixth of the sessions, where a scan in table order (what counted
    before) read the ~6,000 active rows that hold them (tag=urgent at 1M, sqlite3 with the
    server's 2 MB page cache: 6.5 -> 1.9 ms; in-process CPU 8.6-9.2 -> 3.0-3.1 ms).
    """
    connection = connections[qs.db]
    if connection.vendor != "sqlite":
        return qs[: cap + 1].count()
    table = connection.ops.quote_name(qs.model._meta.db_table)
    pk = connection.ops.quote_name(qs.model._meta.pk.column or "id")
    join = f"{TAG_TABLE} CROSS JOIN {table} ON {table}.{pk} = {TAG_TABLE}.session"
    read = _read_from(qs, cap, f"{join} AND {TAG_TABLE}.tag = lower(%s)")
    if read is None:
        return qs[: cap + 1].count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({read[0]}) AS capped", [tag.split("|")[0], *read[1]])
        return int(cursor.fetchone()[0])


def ensure(connection: BaseDatabaseWrapper) -> None:
    """Create the search and tag indexes where they are missing (and fill them); a no-op where
    they are there."""
    if connection.vendor == "sqlite":
        _ensure_sqlite(connection)
    elif connection.vendor == "postgresql":
        _ensure_postgresql(connection)


def drop(connection: BaseDatabaseWrapper, *, tags: bool = False) -> None:
    """Drop the search index (migration 0012's), or with `tags` the tag index (0017's)."""
    triggers, tables = (
        (TAG_TRIGGERS, [TAG_TABLE]) if tags else (SQLITE_TRIGGERS, [LOG_TABLE, FTS_TABLE])
    )
    indexes = [POSTGRES_TAG_INDEX] if tags else list(POSTGRES_INDEXES)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in triggers:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        elif connection.vendor == "postgresql":
            for name in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")


def catch_up(connection: BaseDatabaseWrapper) -> None:
    """Index what the log holds now (SQLite), instead of at the next `BATCH`th write."""
    if connection.vendor == "sqlite":
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in CATCH_UP:
                cursor.execute(statement)


def repair(using: str, **kwargs: object) -> None:
    """After every migrate (post_migrate): put back the triggers if a migration dropped them.

    Django alters a column on SQLite by copying the table to a new one, dropping the old one and
    renaming: the triggers go with the old table, and rows written meanwhile are not logged.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        _ensure_sqlite(connection, only_existing=True)


def _sqlite_names(connection: BaseDatabaseWrapper, kind: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = %s", [kind])
        return {name for (name,) in cursor.fetchall()}


def _ensure_sqlite(connection: BaseDatabaseWrapper, *, only_existing: bool = False) -> None:
    """Each index whose triggers are not all there: made (or, `only_existing`, only if its table
    is, i.e. its migration ran) and filled afresh with whatever was written meanwhile."""
    triggers = _sqlite_names(connection, "trigger")
    tables = _sqlite_names(connection, "table")
    # Index every session afresh: whatever was written while a trigger was missing is in.
    search_rebuild = [
        f"DELETE FROM {LOG_TABLE}",
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')",
    ]
    for table, made, named, rebuild in (
        (FTS_TABLE, SQLITE_TABLES, SQLITE_TRIGGERS, search_rebuild),
        (TAG_TABLE, TAG_TABLES, TAG_TRIGGERS, TAG_REBUILD),
    ):
        if triggers >= set(named) or (only_existing and table not in tables):
            continue
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in made:
                cursor.execute(statement)
            for name, body in named.items():
                cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
            for statement in rebuild:
                cursor.execute(statement)


def _ensure_postgresql(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                with transaction.atomic(using=connection.alias):  # a savepoint in a migration
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except DatabaseError as exc:  # no privilege, or pg_trgm not installed on the server
                raise RuntimeError(POSTGRES_EXTENSION_HELP) from exc
        indexes = {**POSTGRES_INDEXES, POSTGRES_TAG_INDEX: "tags_text"}
        for name, expression in indexes.items():
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON dashboard_session "
                f"USING gin ({expression} gin_trgm_ops)"
            )
