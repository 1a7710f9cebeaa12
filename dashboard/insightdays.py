"""The insight page's daily rollup (InsightDay): per org and UTC creation day, how many sessions
have each status, each category and each PR state, and their ACUs.

The page used to aggregate the org's sessions on every view: 0.4 s for one org and 6.6 s for all
ten at a million sessions (issue 19). It now reads at most a few dozen rows per org and day.

Kept in step by deltas: every store of sessions (dashboard.sync) knows each changed row's old
values (it holds them locked) and its new ones, and adds the difference with an upsert that two
stores can run at once. A row whose count reaches 0 is deleted. `refresh` recomputes days from the
sessions themselves: the migration's backfill, `manage.py rebuild_insight`, the benchmark's bulk
copies, and writes that do not go through the store (a single `Session.save()`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

from django.db import connections, transaction
from django.db.models import Count, Sum

from dashboard.acumodels import InsightDay

STATUS = "status"
CATEGORY = "category"
PR = "pr"
# The Session fields the rollup counts by: a write that changes none of them changes nothing here.
FIELDS = ("created_day", "status", "category", "pr_states", "acus_consumed")
CHUNK = 500
LOCK_CLASS = 7319  # the first key of the rollup's advisory locks (PostgreSQL), the org the second


class Fact(NamedTuple):
    """What the rollup knows of one session."""

    day: date
    status: str
    category: str
    pr_states: str
    acus: float


Totals = dict[tuple[date, str, str], list[Any]]  # (day, kind, value) -> [n, acus]


def fact(session: Any) -> Fact | None:
    """The rollup's view of a session (a model instance); None if it has no creation day."""
    return fact_of({name: getattr(session, name) for name in FIELDS})


def fact_of(values: Mapping[str, Any]) -> Fact | None:
    """`fact` of a session given as its field values (`sync.session_fields`)."""
    if values["created_day"] is None:
        return None
    return Fact(
        values["created_day"],
        values["status"],
        values["category"],
        values["pr_states"],
        values["acus_consumed"] or 0.0,
    )


def pr_values(pr_states: str) -> list[str]:
    """The PR states a session counts under: each state in "|open|merged|" once, or "" for none.

    A state here is exactly what `pr_states__contains="|state|"` matches.
    """
    if not pr_states:
        return [""]
    return list(dict.fromkeys(s for s in pr_states.split("|") if s))


def add(totals: Totals, f: Fact, n: int = 1, acus: float | None = None) -> None:
    """Count `n` sessions like `f` (with `acus`, or f's own times n) into `totals`."""
    acus = f.acus * n if acus is None else acus
    for kind, value in ((STATUS, f.status), (CATEGORY, f.category)):
        row = totals.setdefault((f.day, kind, value), [0, 0.0])
        row[0] += n
        row[1] += acus
    for value in pr_values(f.pr_states):
        row = totals.setdefault((f.day, PR, value), [0, 0.0])
        row[0] += n
        row[1] += acus


def apply(org_id: int, changes: Iterable[tuple[Fact | None, Fact | None]]) -> None:
    """Move the org's rollup from each (old, new) fact to the other: None for a new session's old
    or a deleted one's new. Run it in the transaction that writes the sessions."""
    totals: Totals = {}
    for old, new in changes:
        if old == new:
            continue
        if old is not None:
            add(totals, old, -1)
        if new is not None:
            add(totals, new, 1)
    rows = [(key, n, acus) for key, (n, acus) in totals.items() if n or acus]
    if not rows:
        return
    table = InsightDay._meta.db_table
    connection = connections[InsightDay.objects.db]
    emptied = False
    _lock(connection.alias, org_id, shared=True)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            # Increments, not values: SQLite (3.35+) and PostgreSQL both take this upsert, and a
            # concurrent store's increment of the same row is never lost. The counts it returns
            # say whether a row is now empty, without a DELETE on every store.
            cursor.execute(
                f"INSERT INTO {table} (org_id, day, kind, value, n, acus) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (org_id, day, kind, value) DO UPDATE SET"
                f" n = {table}.n + excluded.n, acus = {table}.acus + excluded.acus RETURNING n",
                [
                    param
                    for (day, kind, value), n, acus in chunk
                    for param in (org_id, day, kind, value, n, acus)
                ],
            )
            emptied = emptied or any(n <= 0 for (n,) in cursor.fetchall())
    if emptied:
        days = {day for (day, _, _), n, _ in rows if n < 0}
        InsightDay.objects.filter(org_id=org_id, day__in=days, n__lte=0).delete()


def _lock(using: str, org_id: int, *, shared: bool) -> None:
    """Until the transaction ends, hold the org's rollup lock: shared by stores (their increments
    add up whatever the order), exclusive for a recount (`refresh`), which deletes and rewrites.
    PostgreSQL only: SQLite's transactions (IMMEDIATE) already take the whole database."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        mode = "_shared" if shared else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_xact_lock{mode}(%s, %s)", [LOCK_CLASS, org_id])


def totals_from(groups: Iterable[tuple[date, str, str, str, int, float | None]]) -> Totals:
    """Totals from sessions grouped by (created_day, status, category, pr_states), with count and
    ACUs: what the migration's backfill and `refresh` compute."""
    totals: Totals = {}
    for day, status, category, pr_states, n, acus in groups:
        add(totals, Fact(day, status, category, pr_states, 0.0), n, acus or 0.0)
    return totals


def refresh(org_id: int, days: Iterable[date] | None = None, *, using: str = "default") -> int:
    """Recompute the org's rollup for `days` (every day if None) from its sessions; return the
    number of rows written."""
    from dashboard.models import Session  # dashboard.models imports this module's model

    sessions = Session.objects.using(using).filter(org_id=org_id, created_day__isnull=False)
    rollup = InsightDay.objects.using(using).filter(org_id=org_id)
    if days is not None:
        days = set(days)
        sessions = sessions.filter(created_day__in=days)
        rollup = rollup.filter(day__in=days)
    groups = (
        sessions.values_list("created_day", "status", "category", "pr_states")
        .annotate(n=Count("*"), acus=Sum("acus_consumed"))
        .order_by()
    )
    with transaction.atomic(using=using):
        # Counted inside the transaction, after the lock: a store's increments either are in the
        # sessions read here or come after this commit, never lost by the delete below.
        _lock(using, org_id, shared=False)
        totals = totals_from(groups)
        rollup.delete()
        InsightDay.objects.using(using).bulk_create(
            [
                InsightDay(org_id=org_id, day=day, kind=kind, value=value, n=n, acus=acus)
                for (day, kind, value), (n, acus) in totals.items()
            ],
            batch_size=CHUNK,
        )
    return len(totals)


def summed(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Rollup rows grouped by kind and value ({kind: {value: [n, acus]}}), empty ones left out."""
    out: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for row in rows:
        if row["n"]:
            out[row["kind"]][row["value"]] = [row["n"], row["acus"] or 0.0]
    return out
