"""The data dir (SQLite, generated secrets) is the dashboard's alone, whatever the umask.

With the usual umask 022 the SQLite database and its -wal/-shm were world-readable, and with them
every signed-in session key. The dir is made 0700 and its files 0600; SQLite gives the -wal and
-shm files the database file's mode, so the database file is made (empty, which SQLite takes for
a new database) before SQLite first opens it. Settings call this before anything is written;
`dashboard.apps` logs what had to be tightened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> str | None:
    """chmod `path` to `mode` if others (or the group) may use it; what was done, or None."""
    current = stat.S_IMODE(path.lstat().st_mode)
    if current & 0o077 == 0:
        return None
    path.chmod(mode)
    return f"{path.name} {current:o} -> {mode:o}"


def make_private(data_dir: Path, *files: Path) -> list[str]:
    """Create `data_dir` 0700 (or tighten it), tighten every file directly in it to 0600, and
    create each of `files` empty and 0600 if missing. Returns what had to be tightened.

    Raises OSError when the dir cannot be made or changed (a read-only or foreign mount).
    """
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed = [c for c in [_tighten(data_dir, DIR_MODE)] if c]
    for path in data_dir.iterdir():
        if stat.S_ISREG(path.lstat().st_mode) and (c := _tighten(path, FILE_MODE)):
            changed.append(c)
    for path in files:
        private_file(path)
    return changed


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (O_EXCL: no race with another maker)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
