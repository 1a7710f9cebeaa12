"""How a worker holds a row (a sync run) while it works on it: a lease in the database.

The worker that claims a row writes its name and a lease end (`RUN_LEASE_SECONDS` ahead) with a
conditional UPDATE, renews the lease from a small thread while it works, and releases it at the
end. A worker killed outright (SIGKILL, OOM, a lost machine) stops renewing, so its lease runs
out and recovery (dashboard.recovery) knows that no one holds the row any more. The renewing
thread is fine inside a `db_worker` process; web workers never hold a lease.

While it holds a row, the worker also listens for SIGTERM/SIGINT, so that a task can stop at its
next safe point and hand its work back instead of being cut off by the service manager.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType, TracebackType
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)

_Handler = Callable[[int, FrameType | None], Any] | int | None


def worker_name() -> str:
    """This process, as a lease holder: host and pid, which is what an operator looks for."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)


def claimable() -> Q:
    """Rows no worker holds: never claimed, released, or whose holder's lease ran out."""
    return Q(worker="") | Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())


class Hold[M: Model]:
    """Keeps a claimed row's lease alive while the `with` block runs.

    `rows` is the claimed row as a queryset (`Model.objects.filter(pk=...)`); every renewal is
    conditional on `worker` still being us, so a worker that lost its row (recovery ended it
    after the lease ran out) notices (`lost`) instead of writing over whoever has it now.
    With `listen=True`, SIGTERM and SIGINT set `stopping` (and still reach the handler that was
    there before, e.g. db_worker's graceful shutdown) so the task can hand its work back.
    """

    def __init__(self, rows: QuerySet[M], worker: str, *, listen: bool = False) -> None:
        self.rows = rows
        self.worker = worker
        self.listen = listen and threading.current_thread() is threading.main_thread()
        self._lost = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)
        self._previous: dict[int, _Handler] = {}

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def __enter__(self) -> Hold[M]:
        if self.listen:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.warning("%s received: handing back at the next safe point", signal.strsignal(signum))
        self._stopping.set()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)

    def _renew(self) -> None:
        every = max(settings.RUN_LEASE_SECONDS / 4, 0.05)
        try:
            while not self._done.wait(every):
                try:
                    renewed = self.rows.filter(worker=self.worker).update(lease_until=lease_end())
                except Exception:  # a busy database: the next beat tries again
                    log.warning("could not renew the lease of %s", self.rows.model, exc_info=True)
                    continue
                if not renewed:
                    log.warning("%s lost its hold on a %s", self.worker, self.rows.model.__name__)
                    self._lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection
