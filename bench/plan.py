"""What a benchmark run measures, at which sizes, how many times; read before Django starts."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

ORGS = 10
READERS = 20  # signed-in users of the throughput figure


@dataclass(frozen=True)
class Plan:
    # (sampled, synced, copied): the middle one is filled by a full sync over HTTP, the first
    # takes every n-th of its rows, the last copies them n times (bench.data).
    sizes: tuple[int, int, int]
    page_reps: int  # timed requests per URL and size
    warmup: int
    deep_page: int  # "page 50": reached through the keyset cursor of the row before it
    count_reps: int
    load_seconds: int  # per throughput run
    archive_reps: int
    resync_reps: int
    bulk_sessions: int
    quick: bool


FULL = Plan(
    sizes=(10_000, 100_000, 1_000_000),
    page_reps=21,
    warmup=3,
    deep_page=50,
    count_reps=21,
    load_seconds=8,
    archive_reps=31,
    resync_reps=3,
    bulk_sessions=1_000,
    quick=False,
)
QUICK = replace(
    FULL,
    sizes=(1_000, 5_000, 20_000),
    page_reps=3,
    warmup=0,
    deep_page=10,
    count_reps=5,
    load_seconds=2,
    archive_reps=5,
    resync_reps=1,
    bulk_sessions=200,  # the bulk figure's goal scales with it
    quick=True,
)


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def alias_of(n: int) -> str:
    return "s" + size_label(n).lower()


def database_settings(data_dir: Path, database_url: str, sizes: tuple[int, ...]) -> str:
    """BENCH_DATABASES for bench.settings: per size, what differs from the default database.

    SQLite: a file per size. PostgreSQL: a schema per size in the one throwaway database (a
    schema needs no CREATEDB right); pg_trgm stays in public, on every search path.
    """
    changes: dict[str, dict[str, object]] = {}
    for n in sizes:
        alias = alias_of(n)
        if database_url:
            changes[alias] = {"OPTIONS": {"options": f"-c search_path=bench_{alias},public"}}
        else:
            changes[alias] = {"NAME": str(data_dir / f"{alias}.sqlite3")}
    return json.dumps(changes)
