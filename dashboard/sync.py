"""Keeping the dashboard's copy of sessions in step with the Devin API.

Sessions arrive from three places: the list endpoint (sync), a single GET (track, re-read after an
action) and an action's own answer (archive/unarchive). All go through `store_sessions`, which
never lets older data overwrite newer data and never lets an action answer's nulls erase
known values.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.tasks import task
from django.utils import timezone

from dashboard import acus, devin, insightdays, leases, syncruns, timewords, wording
from dashboard.crypto import CredentialDecryptError
from dashboard.middleware import request_id as _request_id
from dashboard.models import Organization, Session, SyncRun

log = logging.getLogger(__name__)

# Null in archive/unarchive answers even when known ("only populated on get/list endpoints").
ACTION_NULL_FIELDS = ("status_detail", "category", "subcategory")
INTERNAL_ERROR = "The sync stopped on an internal error; see the server log."
INTERRUPTED = "The sync was interrupted; the next sync carries on from the last success."
BATCH = 1000  # sessions stored in one transaction (see _walk)
# A running sync's counts are written with each batch it stores, or after this long.
PROGRESS_SECONDS = 1.0


@dataclass
class StoreResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # older than what the dashboard has
    # The rows it updated, as stored (an action renders its row from these, not a re-read).
    rows: list[Session] = dataclasses.field(default_factory=list)


def session_fields(item: devin.Session) -> dict[str, Any]:
    """Model field values for one API session."""
    states = [pr.pr_state or "unknown" for pr in item.pull_requests]
    return {
        "title": item.title or "",
        "url": item.url,
        "status": item.status,
        "status_detail": item.status_detail or "",
        "category": item.category or "",
        "subcategory": item.subcategory or "",
        "origin": item.origin or "",
        "tags": list(item.tags),
        "tags_text": "".join(f"|{t}" for t in item.tags) + "|" if item.tags else "",
        "pull_requests": [
            {"pr_url": pr.pr_url, "pr_state": pr.pr_state} for pr in item.pull_requests
        ],
        "pr_states": "|" + "|".join(dict.fromkeys(states)) + "|" if states else "",
        "acus_consumed": item.acus_consumed,
        "is_archived": item.is_archived,
        "parent_session_id": item.parent_session_id or "",
        "user_id": item.user_id or "",
        "created_at": item.created_at,
        "created_day": item.created_at.astimezone(UTC).date(),
        "updated_at": item.updated_at,
        "raw": item.raw,
    }


# Indexed columns are cut, and marked, at a length no real value nears, so that an index row stays
# under PostgreSQL's limit (~2.7 kB, at up to 4 bytes a character). `raw` keeps the whole value.
INDEXED_LIMITS = {
    "status": 100,
    "status_detail": 100,
    "category": 100,
    "origin": 100,
    "user_id": 200,
}
PR_STATES_LIMIT = 300
PR_STATE_LIMIT = 40


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` - 1 characters and "…" if it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_json(value: Any) -> Any:
    """A JSON value with `devin.clean_text` applied to every string in it, keys included."""
    if isinstance(value, str):
        return devin.clean_text(value)
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, dict):
        return {devin.clean_text(key): clean_json(item) for key, item in value.items()}
    return value


# json.dumps (ASCII) writes a NUL as \u0000 and a surrogate as \udXXX: a value without either
# has nothing to clean, and is told in one C call (8 µs) rather than a walk of every string
# (30 µs a session, a tenth of a full sync's CPU). Anything else matching (a surrogate pair, a
# backslash before "u0000") only takes the walk.
_MAYBE_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def storable(values: dict[str, Any]) -> dict[str, Any]:
    """Field values with the characters no database takes (NUL) replaced, visibly, in every string
    and JSON value, and the indexed columns cut to INDEXED_LIMITS."""
    return _storable(values)[0]


def _storable(values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`storable`, and its `raw` as JSON text: the INSERT stores that text rather than encode
    `raw` (~1 kB) a second time (~15 µs a session)."""
    raw = json.dumps(values["raw"])
    rest = {name: value for name, value in values.items() if name != "raw"}
    stored = dict(values)
    if _MAYBE_UNSTORABLE.search(raw) or _MAYBE_UNSTORABLE.search(json.dumps(rest, default=str)):
        stored = {name: clean_json(value) for name, value in values.items()}
        raw = json.dumps(stored["raw"])
    for name, limit in INDEXED_LIMITS.items():
        stored[name] = cut(stored[name], limit)
    if len(stored["pr_states"]) > PR_STATES_LIMIT:
        # Each state cut, and whole states kept while they fit: those still match "|state|".
        kept = ""
        for state in stored["pr_states"].strip("|").split("|"):
            state = cut(state, PR_STATE_LIMIT)
            if len(kept) + len(state) + 4 > PR_STATES_LIMIT:
                kept += "|…"
                break
            kept += "|" + state
        stored["pr_states"] = kept + "|"
    return stored, raw


def store_sessions(
    org: Organization,
    items: Iterable[devin.Session],
    *,
    from_action: bool = False,
    newer_than: datetime | None = None,
    durable: bool = True,
) -> StoreResult:
    """Insert or update sessions in bulk (a few queries per batch, none per row).

    An item replaces the stored row only if it is at least as new (`updated_at`). On a tie, list
    data loses to a row written after `newer_than` (the start of the sync run): that row came from
    an action that landed while the sync was paging. With `from_action`, the fields an action
    answer leaves null keep their known values. Without `durable` (the sync's walk), PostgreSQL
    does not wait for each batch's WAL flush (see `_commit_without_waiting`).
    """
    result = StoreResult()
    items = list(items)
    for start in range(0, len(items), BATCH):
        _store_batch(org, items[start : start + BATCH], from_action, newer_than, durable, result)
    return result


def _store_batch(
    org: Organization,
    items: list[devin.Session],
    from_action: bool,
    newer_than: datetime | None,
    durable: bool,
    result: StoreResult,
) -> None:
    latest: dict[str, devin.Session] = {}
    for item in items:
        known = latest.get(item.session_id)
        if known is None or item.updated_at >= known.updated_at:
            latest[item.session_id] = item
    now = timezone.now()
    # Only a transaction of its own: SET LOCAL would last until an outer one's end.
    relaxed = not durable and not connections[Session.objects.db].in_atomic_block
    with transaction.atomic():
        if relaxed:
            _commit_without_waiting()
        # Lock the rows we may overwrite, so an archive landing now waits for us (or we for it)
        # and the updated_at comparison below cannot race. SQLite locks the whole database.
        rows = Session.objects.select_for_update().filter(org=org, session_id__in=list(latest))
        if not from_action:
            # Only an action's answer merges into the stored copy of the API's JSON; anything
            # else replaces it. Reading it is a third of reading a row (a JSON decode of ~1 kB).
            rows = rows.defer("raw")
        existing = {row.session_id: row for row in rows}
        new_rows: list[dict[str, Any]] = []
        changed: list[Session] = []
        # Each stored row's old and new counts for the insight rollup (dashboard.insightdays).
        facts: list[tuple[insightdays.Fact | None, insightdays.Fact | None]] = []
        # ACUs gained since the last store, counted on today (dashboard.acus).
        watched_from = acus.watched_from(org, now)
        acus_gained = 0.0
        for session_id, item in latest.items():
            values, raw = _storable(session_fields(item))
            row = existing.get(session_id)
            watched = values["created_day"] >= watched_from
            if row is None:
                new_rows.append(
                    {"org_id": org.pk, "session_id": session_id, "synced_at": now, **values}
                )
                new_rows[-1]["raw"] = raw
                facts.append((None, insightdays.fact_of(new_rows[-1])))
                acus_gained += acus.gained(0.0, values["acus_consumed"]) if watched else 0.0
                continue
            if item.updated_at < row.updated_at or (
                newer_than is not None
                and item.updated_at == row.updated_at
                and row.synced_at > newer_than
            ):
                result.skipped += 1
                continue
            if from_action:
                for name in ACTION_NULL_FIELDS:
                    # A detail refines a status: the known one is only still true if the status
                    # did not change (a running session that was archived is now suspended).
                    stale = name == "status_detail" and values["status"] != row.status
                    if not values[name] and not stale:
                        values[name] = getattr(row, name)
                values["raw"] = {
                    **row.raw,
                    **{k: v for k, v in values["raw"].items() if v is not None},
                }
            if item.updated_at == row.updated_at and all(
                getattr(row, name) == value for name, value in values.items() if name != "raw"
            ):
                result.unchanged += 1  # no write: synced_at keeps meaning "last changed here"
                continue
            if watched:
                acus_gained += acus.gained(row.acus_consumed, values["acus_consumed"])
            old = insightdays.fact(row)
            for name, value in values.items():
                setattr(row, name, value)
            facts.append((old, insightdays.fact(row)))
            row.synced_at = now
            changed.append(row)
        _insert(new_rows)
        # One row too (every archive, track and live refresh): the ORM's UPDATE of it took
        # 0.6 ms of CPU, this one 0.3 ms.
        _update(changed)
        acus.add(org, now, acus_gained)
        insightdays.apply(org.pk, facts)
    result.created += len(new_rows)
    result.updated += len(changed)
    result.rows.extend(changed)


def _commit_without_waiting() -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL reaches the disk.

    For the sync's walk only: everything it stores is listed again by the next sync if lost.
    A crash of the database server can lose the last such commits (never tear one), and WAL is
    written in order, so the run's own end (`syncruns.finish`, a normal commit) makes every
    batch before it durable: a run recorded as ok has its sessions; one whose end was lost is
    found by recovery, and the next run lists its window again. An archive, a track or a
    refresh stores with `durable` (what a user just did must survive).
    """
    connection = connections[Session.objects.db]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _insert(rows: list[dict[str, Any]]) -> None:
    """INSERT new sessions (each a value for every column, by attname; `raw` as JSON text, from
    `_storable`), many rows a statement.

    bulk_create compiles every value of every row through the field's expression machinery:
    ~150 µs of CPU a session, most of a full sync's time (docs/performance.md). Values are
    adapted by `_adapters`, as bulk_create ends up adapting them. One statement for many rows, as
    bulk_create
    does, not executemany: SQLite journals every page a statement changes (the search trigger
    makes it a multi-row statement), ~100 µs a row when each row is its own statement.
    """
    if not rows:
        return
    connection = connections[Session.objects.db]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(field)) for field in _COLUMNS)
    row_marks = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    adapted = _adapters(_COLUMNS, connection, as_is={"raw"})
    size = min(INSERT_ROWS, connection.ops.bulk_batch_size(_COLUMNS, rows))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            cursor.execute(
                f"INSERT INTO {quote(Session._meta.db_table)} ({columns}) VALUES "
                + ", ".join([row_marks] * len(chunk)),
                [
                    row[name] if adapt is None else adapt(row[name])
                    for row in chunk
                    for name, adapt in adapted
                ],
            )


def _update(rows: list[Session]) -> None:
    """UPDATE changed sessions' STORED_FIELDS, one statement run for each row (executemany).

    bulk_update writes a CASE WHEN per field and row: ~5 ms of CPU a session on SQLite (a
    re-sync where 1,000 sessions changed: 5 s). Values are adapted by `_adapters`.
    """
    if not rows:
        return
    connection = connections[Session.objects.db]
    quote = connection.ops.quote_name
    fields = [field for field in _COLUMNS if field.name in STORED_FIELDS]
    assignments = ", ".join(f"{quote(_column(field))} = %s" for field in fields)
    adapted = _adapters(fields, connection)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(Session._meta.db_table)} SET {assignments} "
            f"WHERE {quote(_column(Session._meta.pk))} = %s",
            [
                [
                    *(
                        getattr(row, name) if adapt is None else adapt(getattr(row, name))
                        for name, adapt in adapted
                    ),
                    row.pk,
                ]
                for row in rows
            ],
        )


def _column(field: Field[Any, Any] | None) -> str:
    assert field is not None and field.column is not None  # a concrete field has its column
    return field.column


# Rows an INSERT statement takes. SQLite compiles every value of a statement into its program:
# 1,000 rows a statement raised a full sync's peak memory by ~30 MiB (122 against 94 MiB, 20k
# sessions) for no CPU gained.
INSERT_ROWS = 200

_COLUMNS = [field for field in Session._meta.concrete_fields if not field.primary_key]


def _adapters(
    fields: list[Field[Any, Any]], connection: BaseDatabaseWrapper, as_is: Collection[str] = ()
) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """(attname, adapter) for each field: the backend's own adapter for times, days and JSON,
    which is where the field's get_db_prep_save ends for the values the store holds (aware
    datetimes, dates, JSON values), without its checks on the way (~20 µs a session); None for
    the others, whose values (`session_fields`: str, float, bool, the org's int pk) the
    database takes as they are, and for the fields in `as_is` (JSON given as text: SQLite
    stores the text, PostgreSQL casts a text parameter to jsonb)."""
    ops = connection.ops
    adapters: dict[str, Callable[[Field[Any, Any]], Callable[[Any], Any]]] = {
        "DateTimeField": lambda field: ops.adapt_datetimefield_value,
        "DateField": lambda field: ops.adapt_datefield_value,
        "JSONField": lambda field: functools.partial(
            ops.adapt_json_value, encoder=getattr(field, "encoder", None)
        ),
    }
    out: list[tuple[str, Callable[[Any], Any] | None]] = []
    for field in fields:
        make = None if field.attname in as_is else adapters.get(field.get_internal_type())
        out.append((field.attname, None if make is None else make(field)))
    return out


STORED_FIELDS = [
    "title",
    "url",
    "status",
    "status_detail",
    "category",
    "subcategory",
    "origin",
    "tags",
    "tags_text",
    "pull_requests",
    "pr_states",
    "acus_consumed",
    "is_archived",
    "parent_session_id",
    "user_id",
    "created_at",
    "created_day",
    "updated_at",
    "raw",
    "synced_at",
]


# -- runs: one active sync per org, run by a worker (or inline), held by a lease -------------------
# The rows themselves (claim, window, end, record) are dashboard.syncruns.


class _Stop(Exception):
    """The run must stop between pages: its worker is shutting down, or lost its lease."""


def note_page(run: SyncRun, page: devin.SessionPage) -> None:
    """Record on `run` (in memory and in the database) what a page of its listing skipped, and the
    newest updated_at it saw. A time that is not `plausible` never moves the window: a session
    dated 9999 would otherwise stop every later sync from seeing anything."""
    now = timezone.now()
    times = [item.updated_at for item in page.items if timewords.plausible(item.updated_at, now)]
    newest = max(times, default=None)
    changed: dict[str, Any] = {}
    if newest is not None and (run.newest_updated_at is None or newest > run.newest_updated_at):
        changed["newest_updated_at"] = newest
    if page.skipped:
        listed = "; ".join(f"{item.ref}: {item.reason}" for item in page.skipped)
        changed["skipped"] = run.skipped + len(page.skipped)
        changed["skipped_detail"] = cut(
            f"{run.skipped_detail}; {listed}" if run.skipped_detail else listed, SKIPPED_DETAIL
        )
        log.warning(
            "sync of %s skipped %d unreadable sessions: %s",
            run.org.org_id,
            len(page.skipped),
            listed[:2000],
        )
    if changed:
        for name, value in changed.items():
            setattr(run, name, value)
        SyncRun.objects.filter(pk=run.pk).update(**changed)


SKIPPED_DETAIL = 2000


def request_sync(
    org: Organization, *, user: User | None = None, full: bool = False
) -> tuple[SyncRun, bool]:
    """Queue a sync of the org for a worker, unless one is already queued or running.

    Returns the run and whether this call queued it. Whoever asks (Sync now, two users at once,
    the scheduler, recovery, a new org), the database's one_active_sync_per_org constraint lets
    one run through; everyone else gets that run. The task is enqueued once the run is committed.
    """
    for _ in range(3):
        run = syncruns.open_run(org, user=user, full=full)
        if run is not None:
            transaction.on_commit(functools.partial(_enqueue, run.pk, _request_id.get()))
            return run, True
        active = syncruns.active_run(org)
        if active is not None:
            return active, False
        # The active run ended between our insert and our read: ask again.
    raise RuntimeError(f"could not queue a sync of {org.org_id}")


def _enqueue(run_pk: int, rid: str | None) -> None:
    result = sync_task.enqueue(run_pk, request_id=rid)
    # Recovery uses it to tell a run waiting in the queue from one whose task is gone.
    SyncRun.objects.filter(pk=run_pk).update(task_id=result.id)


@task()
def sync_task(run_pk: int, request_id: str | None = None) -> str:
    """Run a queued sync on a worker. Safe to run twice: only the worker that claims it runs it.

    `request_id` is that of the request that asked for it, so the worker's log lines join it.
    """
    token = _request_id.set(request_id)
    try:
        worker = leases.worker_name()
        if not syncruns.claim(SyncRun.objects.filter(pk=run_pk), worker):
            log.info("sync run %s is not waiting for a worker (taken or ended)", run_pk)
            return "not claimed"
        run = SyncRun.objects.select_related("org", "triggered_by").get(pk=run_pk)
        return _execute(run, worker, on_worker=True).state
    finally:
        _request_id.reset(token)


def sync_org(org: Organization, *, full: bool = False, user: User | None = None) -> SyncRun:
    """Sync one org now, in this process (the command line, the demo, tests).

    It takes the org's one active-sync claim: a queued run that no worker has started yet (or
    one whose worker died) is taken over; if a worker is running one, raises SyncActive.
    """
    worker = leases.worker_name()
    for _ in range(3):
        run = syncruns.open_run(org, user=user, full=full, worker=worker)
        if run is not None:
            return _execute(run, worker, on_worker=False)
        is_full, since = syncruns.window(org, full)
        carried = None if is_full else syncruns.newest_seen(org)
        if syncruns.claim(
            org.sync_runs.all(), worker, full=is_full, since=since, newest_updated_at=carried
        ):
            taken = org.sync_runs.select_related("org", "triggered_by")
            run = taken.get(worker=worker, state=SyncRun.State.RUNNING)
            return _execute(run, worker, on_worker=False)
        active = syncruns.active_run(org)
        if active is not None:
            raise syncruns.SyncActive(active)
    raise RuntimeError(f"could not start a sync of {org.org_id}")


def _execute(run: SyncRun, worker: str, *, on_worker: bool) -> SyncRun:
    """Walk the list endpoint for a run this worker holds, and record how it ended.

    Never raises for API trouble or odd data: the run fails with a reason instead. On a worker,
    SIGTERM hands the run back between pages (another worker carries on); inline, an interrupt
    ends it as failed, so the next sync is not blocked.
    """
    with leases.Hold(SyncRun.objects.filter(pk=run.pk), worker, listen=on_worker) as hold:
        try:
            _walk(run, worker, hold)
        except _Stop:
            if hold.lost:  # recovery ended it: what it recorded is the truth
                run.refresh_from_db()
            else:
                _hand_back(run, worker)
            return run
        except (devin.DevinError, CredentialDecryptError) as exc:
            run.state, run.error = SyncRun.State.FAILED, wording.describe(exc)
            log.warning("sync of %s failed: %s", run.org.org_id, exc)
        except Exception:  # odd data or a bug: this org's run fails, the others go on
            log.exception("sync of %s crashed", run.org.org_id)
            run.state, run.error = SyncRun.State.FAILED, INTERNAL_ERROR
        except BaseException:  # KeyboardInterrupt, SystemExit: record it, then stop
            if on_worker:
                _hand_back(run, worker)
            else:
                run.state, run.error = SyncRun.State.FAILED, INTERRUPTED
                syncruns.finish(run, worker)
            raise
        else:
            run.state = SyncRun.State.OK
    syncruns.finish(run, worker)
    return run


def _walk(run: SyncRun, worker: str, hold: leases.Hold[SyncRun]) -> None:
    org = run.org
    updated_after = int(run.since.timestamp()) if run.since else None
    client = org.client()
    due = 0.0  # when the run's counts are next recorded (_progress)
    # Whether the list includes archived sessions by default is undocumented: ask for both.
    for archived in (False, True):
        query = devin.SessionQuery(updated_after=updated_after, is_archived=archived)
        # Pages are stored BATCH sessions at a time: SQLite writes every index page a transaction
        # touched at its commit, and a commit of 1,000 new sessions costs ~30% less CPU a session
        # than five of 200 (half the wall time). What a run lists and has not stored when it
        # stops is listed again by the next run, which starts where the last success ended.
        pending: list[devin.Session] = []
        for page in client.list_sessions(query):
            note_page(run, page)
            pending += page.items
            run.pages += 1
            run.seen += len(page.items)
            stored = len(pending) >= BATCH
            if stored:
                _store_pending(run, pending)
            due = _progress(run, worker, hold, write=stored, due=due)
        if pending:
            _store_pending(run, pending)
            due = _progress(run, worker, hold, write=True, due=due)


def _store_pending(run: SyncRun, pending: list[devin.Session]) -> None:
    """Store what the walk listed since it last stored, and count it on the run."""
    stored = store_sessions(run.org, pending, newer_than=run.started_at, durable=False)
    run.created += stored.created
    run.updated += stored.updated
    pending.clear()


def _progress(
    run: SyncRun, worker: str, hold: leases.Hold[SyncRun], *, write: bool, due: float
) -> float:
    """Record the run's counts so far, with each stored batch (`write`) or once `due` (a
    monotonic time) has come; stop here if the worker is stopping or lost the run. Returns
    when the next record is due.

    Not every page: a full sync of 100k has 510, and on PostgreSQL each UPDATE is a commit that
    waits for its WAL flush (~5 ms, 2.5 s of such a sync). `finish` records the final counts.
    """
    now = time.monotonic()
    if write or now >= due:
        SyncRun.objects.filter(pk=run.pk, worker=worker).update(**syncruns.counts(run))
        due = now + PROGRESS_SECONDS
    if hold.lost or hold.stopping:
        raise _Stop
    return due


def _hand_back(run: SyncRun, worker: str) -> None:
    """Put the run back in the queue for the next worker; it starts again from its `since`."""
    with transaction.atomic():
        handed = SyncRun.objects.filter(pk=run.pk, worker=worker).update(
            state=SyncRun.State.QUEUED, worker="", lease_until=None, task_id=""
        )
        if handed:
            transaction.on_commit(functools.partial(_enqueue, run.pk, _request_id.get()))
    run.state = SyncRun.State.QUEUED
    log.info("sync of %s handed back after %s pages", run.org.org_id, run.pages)
