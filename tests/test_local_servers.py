"""`make demo` and `make run` start a background worker and the scheduler beside the web server,
and they end with it: on Ctrl-C, and when the parent dies outright (no orphans left holding the
data dir). Started for real, as a developer would (`make serve` is in test_deploy_files.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_deploy_files import clean_env, free_port
from tests.workers import ROOT, alive, command_line, descendants, wait_for

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or not sys.platform.startswith("linux"),
    reason="needs Linux (/proc, PR_SET_PDEATHSIG)",
)


def started(command: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=clean_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )


def serving(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until it answers on `url` with its worker and scheduler started; fails if it exits."""
    wait_for(lambda: serving(url) or process.poll() is not None, 120, f"{url} to answer")
    assert process.poll() is None, log.read_text()
    wait_for(lambda: len(background(process.pid)) == 2, 30, "the worker and the scheduler")


def background(pid: int) -> dict[str, int]:
    """The worker and the scheduler among a process's descendants, by role."""
    found = {}
    for child in descendants(pid):
        words = command_line(child)
        if "db_worker" in words:
            found["worker"] = child
        elif "sync_sessions" in words and "--loop" in words:
            found["scheduler"] = child
    return found


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = started(
        ["make", "-s", "-o", ".venv/.installed", "run", f"PORT={port}"],
        tmp_path / "run.log",
        DASHBOARD_DATA_DIR=str(tmp_path),
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(process, url, tmp_path / "run.log")
        yield process, url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_run_stops_its_worker_and_scheduler_on_ctrl_c(
    make_run: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, _ = make_run
    tree = descendants(process.pid)
    assert any("runserver" in command_line(pid) for pid in tree)
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    process.wait(timeout=60)
    wait_for(lambda: not any(alive(pid) for pid in tree), 30, "every child to end")


def test_make_run_leaves_no_orphan_when_its_parent_is_killed(
    make_run: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = make_run
    tree = descendants(process.pid)
    [supervisor] = [pid for pid in tree if "supervise" in command_line(pid)]
    os.kill(supervisor, signal.SIGKILL)  # no handler, no clean-up: the OOM killer's way
    wait_for(lambda: not any(alive(pid) for pid in tree), 30, "every child to end")
    assert not serving(url)


def test_make_demo_syncs_on_its_worker_and_ends_with_it(tmp_path: Path) -> None:
    port = free_port()
    process = started(
        [sys.executable, "manage.py", "demo", "--port", str(port), "--api-port", "0"],
        tmp_path / "demo.log",
        DEBUG="true",
        DASHBOARD_DATA_DIR=str(tmp_path),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, tmp_path / "demo.log")
        with httpx.Client(base_url=url, timeout=30) as http:
            http.get("/login/")
            form = {"username": "operator", "password": "demo-operator-pass"}
            form["csrfmiddlewaretoken"] = http.cookies["csrftoken"]
            assert http.post("/login/", data=form).status_code == 302
            headers = {"X-CSRFToken": http.cookies["csrftoken"], "HX-Request": "true"}
            assert (
                "waiting for a background worker"
                in http.post("/orgs/1/sync/", headers=headers).text
            )
            db = tmp_path / "dashboard.sqlite3"

            def synced_twice() -> bool:
                with sqlite3.connect(db) as conn:
                    query = "select count(*) from dashboard_syncrun where org_id=1 and state='ok'"
                    return conn.execute(query).fetchone() == (2,)

            wait_for(synced_twice, 60, "the demo's worker to run Sync now")
        tree = descendants(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in tree), 30, "the demo's children to end")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
