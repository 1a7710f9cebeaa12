"""Keeping the dashboard's copy of sessions in step with the Devin API.

Sessions arrive from three places: the list endpoint (sync), a single GET (track, re-read after an
action) and an action's own answer (archive/unarchive). All go through `store_sessions`, which
never lets older data overwrite newer data and never lets an action answer's nulls erase
known values.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from dashboard import audit, devin, timewords, wording
from dashboard.crypto import CredentialDecryptError
from dashboard.models import AuditEvent, Organization, Session, SyncRun

log = logging.getLogger(__name__)

# Null in archive/unarchive answers even when known ("only populated on get/list endpoints").
ACTION_NULL_FIELDS = ("status_detail", "category", "subcategory")
# A run still "running" after this long died with its process; another may start.
STALE_RUN = timedelta(minutes=30)
KEEP_RUNS = 20
BATCH = 500


@dataclass
class StoreResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # older than what the dashboard has


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
INDEXED_LIMITS = {"status": 100, "category": 100}
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


def storable(values: dict[str, Any]) -> dict[str, Any]:
    """Field values with the characters no database takes (NUL) replaced, visibly, in every string
    and JSON value, and the indexed columns cut to INDEXED_LIMITS."""
    stored = {name: clean_json(value) for name, value in values.items()}
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
    return stored


def store_sessions(
    org: Organization,
    items: Iterable[devin.Session],
    *,
    from_action: bool = False,
    newer_than: datetime | None = None,
) -> StoreResult:
    """Insert or update sessions in bulk (a few queries per batch, none per row).

    An item replaces the stored row only if it is at least as new (`updated_at`). On a tie, list
    data loses to a row written after `newer_than` (the start of the sync run): that row came from
    an action that landed while the sync was paging. With `from_action`, the fields an action
    answer leaves null keep their known values.
    """
    result = StoreResult()
    items = list(items)
    for start in range(0, len(items), BATCH):
        _store_batch(org, items[start : start + BATCH], from_action, newer_than, result)
    return result


def _store_batch(
    org: Organization,
    items: list[devin.Session],
    from_action: bool,
    newer_than: datetime | None,
    result: StoreResult,
) -> None:
    latest: dict[str, devin.Session] = {}
    for item in items:
        known = latest.get(item.session_id)
        if known is None or item.updated_at >= known.updated_at:
            latest[item.session_id] = item
    now = timezone.now()
    with transaction.atomic():
        # Lock the rows we may overwrite, so an archive landing now waits for us (or we for it)
        # and the updated_at comparison below cannot race. SQLite locks the whole database.
        existing = {
            row.session_id: row
            for row in Session.objects.select_for_update().filter(
                org=org, session_id__in=list(latest)
            )
        }
        new_rows: list[Session] = []
        changed: list[Session] = []
        for session_id, item in latest.items():
            values = storable(session_fields(item))
            row = existing.get(session_id)
            if row is None:
                new_rows.append(Session(org=org, session_id=session_id, synced_at=now, **values))
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
            for name, value in values.items():
                setattr(row, name, value)
            row.synced_at = now
            changed.append(row)
        Session.objects.bulk_create(new_rows, batch_size=BATCH)
        if len(changed) == 1:
            # One row (every archive, track and live refresh): a plain UPDATE. bulk_update's
            # CASE WHEN per field costs ~2 ms of query building for a single row.
            row = changed[0]
            Session.objects.filter(pk=row.pk).update(
                **{name: getattr(row, name) for name in STORED_FIELDS}
            )
        else:
            Session.objects.bulk_update(changed, STORED_FIELDS, batch_size=BATCH)
    result.created += len(new_rows)
    result.updated += len(changed)


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


def last_success(org: Organization) -> SyncRun | None:
    return org.sync_runs.filter(state=SyncRun.State.OK).order_by("-started_at").first()


def running_run(org: Organization) -> SyncRun | None:
    return (
        org.sync_runs.filter(state=SyncRun.State.RUNNING, started_at__gt=timezone.now() - STALE_RUN)
        .order_by("-started_at")
        .first()
    )


def newest_seen(org: Organization) -> datetime | None:
    """The newest updated_at the org's last successful run (and those before it) saw, by Devin's
    clock; None before a success that saw a session."""
    previous = last_success(org)
    return previous.newest_updated_at if previous is not None else None


def window_start(org: Organization) -> datetime | None:
    """Where an incremental sync of the org starts (its updated_after); None means a full sync.

    Devin's own clock, from `newest_seen`, minus DASHBOARD_SYNC_OVERLAP: not the dashboard's
    clock, which may be behind Devin's by more than the overlap.
    """
    newest = newest_seen(org)
    if newest is None:
        return None
    return newest - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)


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


def start_run(org: Organization, *, full: bool = False, user: Any = None) -> SyncRun:
    """Record a new run. Incremental from `window_start`, unless full or there is none."""
    since = None if full else window_start(org)
    return SyncRun.objects.create(
        org=org,
        full=since is None,
        since=since,
        # Carried forward, so that a run that sees nothing new keeps the window where it was.
        newest_updated_at=None if since is None else newest_seen(org),
        triggered_by=user if user is not None and user.pk else None,
    )


def run_sync(run: SyncRun) -> SyncRun:
    """Walk the list endpoint for `run`'s org and store what it returns. Never raises DevinError."""
    org = run.org
    updated_after = int(run.since.timestamp()) if run.since else None
    try:
        client = org.client()
        # Whether the list includes archived sessions by default is undocumented: ask for both.
        for archived in (False, True):
            query = devin.SessionQuery(updated_after=updated_after, is_archived=archived)
            for page in client.list_sessions(query):
                note_page(run, page)
                stored = store_sessions(org, page.items, newer_than=run.started_at)
                run.pages += 1
                run.seen += len(page.items)
                run.created += stored.created
                run.updated += stored.updated
                SyncRun.objects.filter(pk=run.pk).update(
                    pages=run.pages, seen=run.seen, created=run.created, updated=run.updated
                )
    except (devin.DevinError, CredentialDecryptError) as exc:
        run.state = SyncRun.State.FAILED
        run.error = wording.describe(exc)
        log.warning("sync of %s failed: %s", org.org_id, exc)
    else:
        run.state = SyncRun.State.OK
    run.finished_at = timezone.now()
    # Record and log first: saving the final state is what tells pollers the run is over.
    audit.record(
        "sync",
        actor=run.triggered_by,
        org=org,
        outcome=AuditEvent.Outcome.OK
        if run.state == SyncRun.State.OK
        else AuditEvent.Outcome.FAILED,
        detail=(
            f"{'full' if run.full else 'incremental'}: {run.pages} pages, {run.seen} seen, "
            f"{run.created} new, {run.updated} updated" + (f"; {run.error}" if run.error else "")
        ),
        actor_name="" if run.triggered_by else "sync job",
    )
    log.info(
        "sync of %s %s: pages=%s seen=%s created=%s updated=%s",
        org.org_id,
        run.state,
        run.pages,
        run.seen,
        run.created,
        run.updated,
    )
    run.save()
    prune_runs(run.org)
    return run


def prune_runs(org: Organization) -> int:
    """Drop all but the newest KEEP_RUNS runs of an org (and never its last success).

    A `--loop` service records a run a minute; without this the sessions page, which shows each
    org's newest run, would scan a history that grows forever. The audit trail keeps every run.
    """
    keep = list(org.sync_runs.order_by("-started_at").values_list("pk", flat=True)[:KEEP_RUNS])
    success = last_success(org)
    if success is not None:
        keep.append(success.pk)
    deleted, _ = org.sync_runs.exclude(pk__in=keep).delete()
    return deleted


def sync_org(org: Organization, *, full: bool = False, user: Any = None) -> SyncRun:
    return run_sync(start_run(org, full=full, user=user))


def sync_in_background(org: Organization, *, user: Any = None) -> SyncRun:
    """Start a sync in a thread (a "Sync now" click) unless one is already running."""
    current = running_run(org)
    if current is not None:
        return current
    run = start_run(org, user=user)

    def work() -> None:
        try:
            run_sync(run)
        except Exception:  # the thread has no caller to tell; the run must not stay "running"
            log.exception("sync of %s crashed", org.org_id)
            SyncRun.objects.filter(pk=run.pk).update(
                state=SyncRun.State.FAILED,
                error="The sync stopped on an internal error; see the server log.",
                finished_at=timezone.now(),
            )
        finally:
            connections.close_all()  # this thread's own connection; nobody else will close it

    # Start once the run's row is committed, so the thread (its own connection) can see it.
    # The thread runs in a copy of this request's context, so its log lines carry the request id.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(work,), name=f"sync-{org.org_id}", daemon=True
    )
    transaction.on_commit(thread.start)
    return run
