"""The 10k and 1M databases, made from the synced 100k one by bulk insert in SQL.

The 100k database is filled the real way (a full sync of 10 orgs over HTTP, the sync figure); a
sync of a million sessions would take most of an hour. The others are copies of its rows:
10k takes every tenth row (1k per org, same mix), 1M takes every row ten times, each copy but the
first with a fresh random session id and its times moved back by up to half an hour, so each size
has the same mix of statuses, titles, tags, PRs and ages, and the 1M database has ten rows for
each one of the 100k database rather than ten exact duplicates. Orgs are created in the same order
everywhere, so their pks (and `org=` links) are the same in every database.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from dashboard import insightdays, search
from dashboard.models import Organization, Session

# main.: the synced database is attached to the same connection, and open elsewhere.
BUILD_PRAGMAS = (
    "main.journal_mode=OFF",
    "main.synchronous=OFF",
    "main.cache_size=-512000",
    "temp_store=MEMORY",
)
SERVE_PRAGMAS = (
    "main.journal_mode=WAL",
    "main.synchronous=NORMAL",
    "main.cache_size=-2000",
    "temp_store=DEFAULT",
)
COLUMNS: list[Field[Any, Any]] = [f for f in Session._meta.concrete_fields if not f.primary_key]


def copy_sessions(target: str, source: str, *, copies: int = 1, every: int = 1) -> float:
    """Copy sessions from `source` (a table name that `target`'s connection can read) into the
    `target` database: every `every`-th row, `copies` times. Returns the seconds it took."""
    started = time.perf_counter()
    connection = connections[target]
    if connection.vendor == "sqlite":
        # A throwaway database nobody else has open yet: no journal to write the 2 GB to twice,
        # and memory enough to sort each index in one go. Put back afterwards.
        with connection.cursor() as cursor:
            for pragma in BUILD_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
    with transaction.atomic(using=target), connection.cursor() as cursor:
        # Indexes (and the search index's triggers) are built once at the end: a B-tree built
        # from sorted rows takes a fraction of the time of a million random inserts into nine.
        rebuild = _drop_indexes(cursor, connection.vendor)
        for copy in range(copies):
            cursor.execute(_copy_sql(connection, source, fresh=copy > 0, every=every))
        if connection.vendor == "postgresql":
            # The foreign keys are checked at commit (deferred), and PostgreSQL builds no index
            # on a table with checks pending: have them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in rebuild:
            cursor.execute(statement)
    # The insight rollup, which the store keeps and raw SQL does not: counted once, per org.
    for org_id in Organization.objects.using(target).values_list("pk", flat=True):
        insightdays.refresh(org_id, using=target)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for pragma in SERVE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
    settle(target)
    return time.perf_counter() - started


def settle(using: str) -> None:
    """On PostgreSQL, what autovacuum does within a minute of a bulk load: planner statistics
    and the visibility map, without which every index-only scan (every COUNT) visits the table.
    SQLite gathers no statistics by itself (nor does Django ask it to): none are made here."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE dashboard_session")
            cursor.execute("VACUUM ANALYZE dashboard_insightday")


def _drop_indexes(cursor: Any, vendor: str) -> list[str]:
    """Drop dashboard_session's indexes and triggers (not its constraints); return what makes
    them again, then fills the SQLite search index (its triggers were not there to)."""
    if vendor == "postgresql":
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'dashboard_session' "
            "AND schemaname = current_schema() AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'dashboard_session'::regclass)"
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]
    cursor.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'dashboard_session' "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    )
    found = cursor.fetchall()
    for kind, name, _ in found:
        cursor.execute(f'DROP {kind.upper()} "{name}"')
    rebuild = [sql for _, _, sql in found]
    if any(kind == "trigger" for kind, _, _ in found):
        rebuild.append(f"INSERT INTO {search.FTS_TABLE}({search.FTS_TABLE}) VALUES ('rebuild')")
        rebuild.extend(search.TAG_REBUILD)
    return rebuild


def _copy_sql(connection: BaseDatabaseWrapper, source: str, *, fresh: bool, every: int) -> str:
    names = [connection.ops.quote_name(f.attname) for f in COLUMNS]  # attname == column here
    moved: dict[str, str] = {}
    if connection.vendor == "postgresql":
        new_id = "replace(gen_random_uuid()::text, '-', '')"
        shift = "make_interval(secs => floor(random() * 1800))"
        if fresh:
            moved = {
                '"created_at"': "created_at - shift",
                '"updated_at"': "updated_at - shift",
                '"created_day"': "(created_at - shift)::date",
            }
    else:
        new_id = "lower(hex(randomblob(16)))"
        shift = "printf('-%d seconds', abs(random()) % 1800)"
        if fresh:
            moved = {
                '"created_at"': "datetime(created_at, shift)",
                '"updated_at"': "datetime(updated_at, shift)",
                '"created_day"': "date(created_at, shift)",
            }
    if fresh:
        moved |= {
            '"session_id"': "'devin-' || hex",
            '"url"': "'https://app.devin.ai/sessions/' || hex",
        }
    # MATERIALIZED: each row's random id and shift are drawn once, not once per use.
    return (
        f"WITH source AS MATERIALIZED (SELECT *, {new_id} AS hex, {shift} AS shift "
        f"FROM {source} WHERE id % {every:d} = 0) "
        f"INSERT INTO dashboard_session ({', '.join(names)}) "
        f"SELECT {', '.join(moved.get(name, name) for name in names)} FROM source ORDER BY id"
    )
