"""Real background processes for tests: `manage.py db_worker` and the scheduler loop, run as
subprocesses against the test database, so a test can kill them as a deploy or an OOM would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that uses this test run's database and secrets."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DASHBOARD_TEST_DB_NAME=str(connection.settings_dict["NAME"]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child `manage.py` process whose output goes to a log file the test can read."""

    def __init__(self, args: list[str], log: Path, **env: str) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=process_env(**env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no handler, no finally, no clean-up, as the OOM killer does it."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._out.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; SIGKILL if it does not end in time."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        finally:
            self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(log_dir: Path, name: str = "worker", **env: str) -> Process:
    """`manage.py db_worker`, polling often so tests do not wait on its interval."""
    args = ["db_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload"]
    args += ["--worker-id", f"{name}-{time.monotonic_ns()}"]
    return Process(args, log_dir / f"{name}.log", **env)


@contextmanager
def worker(log_dir: Path, name: str = "worker", **env: str) -> Iterator[Process]:
    process = start_worker(log_dir, name, **env)
    try:
        yield process
    finally:
        process.stop()


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `check` until it returns something truthy; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def run_queued_tasks() -> None:
    """Run every task queued so far in this process, as one db_worker pass would (unit tests)."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-in-process",
        excluded_queue_names=[],
    ).run()


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (Linux /proc), children first."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # a zombie is dead, only not yet reaped
            parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def command_line(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def gunicorn(log: Path, **env: str) -> Iterator[Served]:
    """The dashboard under the project's own gunicorn.conf.py, on this test's database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        bind = f"127.0.0.1:{probe.getsockname()[1]}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dashboard.wsgi"],
            cwd=ROOT,
            env=process_env(GUNICORN_BIND=bind, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{bind}"
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), 60, "gunicorn to serve")
        yield Served(url, process)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
