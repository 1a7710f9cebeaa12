"""Leases on background runs: which worker holds a run, and until when.

A run (a BulkRun, a SyncRun) has `worker` and `lease_until`. A task claims it with a conditional
UPDATE that only one worker can win, renews the lease from a small thread while it works (every
quarter lease), and releases it when it stops. A run whose lease has expired belongs to no live
worker any more (killed, OOM, machine lost), so recovery may hand it to another.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Model, Q
from django.utils import timezone

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Unique per claim, and says where the holder runs (host and pid) for whoever debugs it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"[:64]


def lease_length() -> timedelta:
    return timedelta(seconds=settings.RUN_LEASE_SECONDS)


def claimable() -> Q:
    """Runs that no live worker holds: never claimed, released, or whose lease has expired."""
    return Q(worker="") | Q(lease_until__isnull=True) | Q(lease_until__lte=timezone.now())


class Lease:
    """One worker's claim on one run (any model with `worker` and `lease_until`)."""

    def __init__(self, model: type[Model], pk: int) -> None:
        self.model = model
        self.pk = pk
        self.holder = worker_id()

    def _mine(self) -> Q:
        return Q(pk=self.pk, worker=self.holder)

    def claim(self, condition: Q | None = None) -> bool:
        """Take the run if no live worker holds it (and `condition` holds); False if taken."""
        runs = self.model._default_manager.filter(claimable(), pk=self.pk)
        if condition is not None:
            runs = runs.filter(condition)
        return bool(runs.update(worker=self.holder, lease_until=timezone.now() + lease_length()))

    def renew(self) -> bool:
        """Extend the lease; False if the run is no longer ours (it expired and was taken)."""
        until = timezone.now() + lease_length()
        return bool(self.model._default_manager.filter(self._mine()).update(lease_until=until))

    def release(self) -> None:
        """Give the run back: the next task (or recovery) may claim it at once."""
        self.model._default_manager.filter(self._mine()).update(
            worker="", lease_until=timezone.now()
        )

    @contextmanager
    def kept(self, lost: threading.Event) -> Iterator[None]:
        """Renew the lease every quarter lease while the block runs; set `lost` if it is lost."""
        done = threading.Event()
        interval = max(0.05, settings.RUN_LEASE_SECONDS / 4)

        def heartbeat() -> None:
            try:
                while not done.wait(interval):
                    if not self.renew():
                        log.warning("lost the lease on %s %s", self.model.__name__, self.pk)
                        lost.set()
                        return
            except Exception:
                # A database hiccup: stop working rather than hold a run without a lease.
                log.exception("could not renew the lease on %s %s", self.model.__name__, self.pk)
                lost.set()
            finally:
                connection.close()

        thread = threading.Thread(target=heartbeat, name=f"lease-{self.pk}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
