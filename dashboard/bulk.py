"""Bulk archive: many archive calls with bounded concurrency, sharing one rate-limit pause."""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from dashboard import audit, devin, sync, wording
from dashboard.crypto import CredentialDecryptError
from dashboard.models import AuditEvent, BulkItem, BulkRun, Organization, Session

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_TARGETS = 10_000


class RateGate:
    """When any worker is told to slow down (429), every worker waits until the pause ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                delay = self._until - time.monotonic()
            if delay <= 0:
                return
            time.sleep(min(delay, 1.0))


def start_bulk_archive(
    request: HttpRequest, targets: QuerySet[Session], description: str
) -> BulkRun | None:
    """Fix the target list now, then archive in the background. None if nothing matched."""
    sessions = list(targets.select_related("org").order_by("-updated_at")[:MAX_TARGETS])
    if not sessions:
        return None
    run = BulkRun.objects.create(actor=request.user, description=description[:300])  # type: ignore[misc]
    BulkItem.objects.bulk_create(
        BulkItem(run=run, session=s, session_label=f"{s.title or s.session_id}"[:300])
        for s in sessions
    )
    audit.record(
        "bulk_archive", request=request, detail=f"started: {len(sessions)} sessions; {description}"
    )
    items = list(run.items.select_related("session", "session__org"))
    ip = audit.client_ip(request)
    # Threads run in copies of this request's context, so their log lines carry the request id.
    thread = threading.Thread(
        target=contextvars.copy_context().run,
        args=(execute, run, items, request.user, ip),
        name=f"bulk-{run.pk}",
        daemon=True,
    )
    # Start once the run and its items are committed, so the workers' connections see them.
    transaction.on_commit(thread.start)
    return run


def execute(run: BulkRun, items: list[BulkItem], actor: Any, ip: str | None) -> None:
    gate = RateGate()
    clients: dict[int, devin.DevinClient | Exception] = {}
    clients_lock = threading.Lock()

    def client_for(org: Organization) -> devin.DevinClient:
        with clients_lock:
            if org.pk not in clients:
                try:
                    clients[org.pk] = org.client()
                except CredentialDecryptError as exc:
                    clients[org.pk] = exc
            found = clients[org.pk]
        if isinstance(found, Exception):
            raise found
        return found

    def archive_one(item: BulkItem) -> None:
        session = item.session
        try:
            if session is None:
                item.outcome, item.error = BulkItem.Outcome.SKIPPED, "No longer in the dashboard."
                return
            for attempt in range(1, MAX_ATTEMPTS + 1):
                gate.wait()
                try:
                    answer = client_for(session.org).archive_session(session.session_id)
                except devin.RateLimited as exc:
                    if attempt == MAX_ATTEMPTS:
                        raise
                    backoff = exc.retry_after or min(8.0, 0.5 * 2**attempt)
                    gate.pause(backoff + random.uniform(0, 0.25))
                    continue
                sync.store_sessions(session.org, [answer], from_action=True)
                item.outcome = BulkItem.Outcome.OK
                break
        except (devin.DevinError, CredentialDecryptError) as exc:
            item.outcome, item.error = BulkItem.Outcome.FAILED, wording.describe(exc)
        except Exception:
            log.exception("bulk archive of %s crashed", session.session_id if session else "?")
            item.outcome, item.error = (
                BulkItem.Outcome.FAILED,
                "Internal error; see the server log.",
            )
        finally:
            BulkItem.objects.filter(pk=item.pk).update(outcome=item.outcome, error=item.error)
            if session is not None:
                audit.record(
                    "archive",
                    actor=actor,
                    org=session.org,
                    outcome=AuditEvent.Outcome.OK
                    if item.outcome == BulkItem.Outcome.OK
                    else AuditEvent.Outcome.FAILED,
                    session_id=session.session_id,
                    detail=f"bulk #{run.pk}" + (f": {item.error}" if item.error else ""),
                    ip=ip,
                )
            connections.close_all()

    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.BULK_CONCURRENCY)) as pool:
            context = contextvars.copy_context()
            list(pool.map(lambda item: context.copy().run(archive_one, item), items))
    finally:
        outcomes = [item.outcome for item in items]
        ok = outcomes.count(BulkItem.Outcome.OK)
        audit.record(
            "bulk_archive_finished",
            actor=actor,
            outcome=AuditEvent.Outcome.OK if ok == len(items) else AuditEvent.Outcome.FAILED,
            detail=f"bulk #{run.pk}: {ok} archived, {len(items) - ok} not, of {len(items)}",
            ip=ip,
        )
        BulkRun.objects.filter(pk=run.pk).update(
            state=BulkRun.State.DONE, finished_at=timezone.now()
        )
        connections.close_all()


def recover_stale_runs() -> int:
    """PLACEHOLDER (i13-runs only; the actions branch has the real one): re-enqueues bulk runs
    whose worker's lease ran out; returns how many."""
    return 0
