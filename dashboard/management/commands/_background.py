"""The processes a local server needs beside it: a background worker and the scheduler.

`make demo`, `make run` and `make serve` start them as children that end with their parent: on
Ctrl-C or SIGTERM the parent stops them (SIGTERM: the worker finishes or hands back its task),
and on Linux a parent that dies outright (SIGKILL) takes them along too (PR_SET_PDEATHSIG), so
no worker is left behind holding the data dir. In production they are services of their own
(docs/deploy.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

PR_SET_PDEATHSIG = 1


def _dies_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when `parent` dies (Linux), and ends at once if it
    already has."""

    def arrange() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return arrange


def spawn(command: list[str]) -> subprocess.Popen[bytes]:
    """Start a child in its own session (the terminal's Ctrl-C reaches the parent only, which
    then stops each child exactly once) that dies with this process."""
    return subprocess.Popen(
        command,
        preexec_fn=_dies_with(os.getpid()),
        start_new_session=True,
    )


def manage(*args: str) -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


def stop(children: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM to each, then wait; SIGKILL for any still running after `timeout` seconds."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def background(interval: float = 60) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One `db_worker` and the scheduler (`sync_sessions --loop`), while the block runs."""
    children = [
        spawn(manage("db_worker", "--no-reload", "--interval", "1")),
        spawn(manage("sync_sessions", "--loop", "--interval", f"{interval:g}")),
    ]
    try:
        yield children
    finally:
        stop(children)
