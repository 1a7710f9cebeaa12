"""The data dir is the dashboard's alone whatever the umask: 0700, and the SQLite database (with
its -wal and -shm), the generated secrets and every other file in it 0600. An existing one is
tightened at start, and the log says so."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run while the connection is open, so SQLite's -wal and -shm files exist.
PROBE = """
import json, os, stat
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    names = sorted(os.listdir(settings.DATA_DIR))
    modes = {n: oct(stat.S_IMODE(os.stat(settings.DATA_DIR / n).st_mode)) for n in names}
    modes["."] = oct(stat.S_IMODE(os.stat(settings.DATA_DIR).st_mode))
    print(json.dumps(modes))
"""


def manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    drop = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY", "DASHBOARD_CREDENTIAL_KEYS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DEBUG="true", DASHBOARD_DATA_DIR=str(data_dir))
    # The usual umask, under which these files used to be world-readable.
    command = ["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_a_new_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"

    result = manage(data, "shell", "--no-imports", "-c", PROBE)

    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout.strip().splitlines()[-1])
    assert modes == {
        ".": "0o700",
        "credential_keys": "0o600",
        "dashboard.sqlite3": "0o600",
        "dashboard.sqlite3-shm": "0o600",
        "dashboard.sqlite3-wal": "0o600",
        "secret_key": "0o600",
    }
    assert "readable by others" not in result.stdout


def test_an_existing_open_data_dir_is_tightened_and_the_log_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    sqlite3.connect(data / "dashboard.sqlite3").close()
    (data / "secret_key").write_text("old-secret-" + "k" * 40)
    for path in data.iterdir():
        path.chmod(0o644)
    (data / "demo").mkdir()

    result = manage(data, "check")

    assert result.returncode == 0, result.stderr
    assert (mode(data), mode(data / "dashboard.sqlite3"), mode(data / "secret_key")) == (
        "0o700",
        "0o600",
        "0o600",
    )
    assert f"data dir {data} was readable by others; made it private" in result.stdout
    assert "dashboard.sqlite3 644 -> 600" in result.stdout
    # Started again: nothing left to tighten, nothing said.
    assert "readable by others" not in manage(data, "check").stdout
