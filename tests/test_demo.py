from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent


def test_demo_seeds_orgs_users_and_sessions_and_prints_the_logins(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DASHBOARD_CREDENTIAL_KEYS", "SECRET_KEY"}
    }
    env.update(DEBUG="true", DASHBOARD_DATA_DIR=str(tmp_path))
    command = [
        sys.executable,
        "manage.py",
        "demo",
        "--no-serve",
        "--api-port",
        "0",
        "--sessions",
        "20",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Devin dashboard demo: http://127.0.0.1:8000/" in out
    for login in (
        "admin     password demo-admin-pass",
        "operator  password demo-operator-pass",
        "viewer    password demo-viewer-pass",
    ):
        assert login in out
    db = sqlite3.connect(tmp_path / "dashboard.sqlite3")
    try:
        assert db.execute("select count(*) from dashboard_organization").fetchone() == (3,)
        assert db.execute("select count(*) from auth_user").fetchone() == (3,)
        assert db.execute("select count(*) from dashboard_session").fetchone() == (60,)
        assert db.execute("select count(*) from dashboard_membership").fetchone() == (6,)
    finally:
        db.close()
    # A second start makes the demo afresh rather than failing on existing users.
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_demo_without_the_fake_says_it_needs_a_source_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in an installed wheel or the image, where the fakedevin package is not shipped.
    monkeypatch.setitem(sys.modules, "fakedevin", None)
    with pytest.raises(CommandError, match="needs the fake Devin API from a source checkout"):
        call_command("demo", "--no-serve")


def _env_without_secrets() -> dict[str, str]:
    hidden = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE"}
    hidden |= {"DASHBOARD_CREDENTIAL_KEYS", "DASHBOARD_CREDENTIAL_KEYS_FILE"}
    return {k: v for k, v in os.environ.items() if k not in hidden}


@pytest.mark.parametrize("args", [["demo", "--help"], ["help", "demo"], ["demo", "-h"]])
def test_demo_help_works_without_debug_or_secrets(tmp_path: Path, args: list[str]) -> None:
    env = {**_env_without_secrets(), "DASHBOARD_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "manage.py", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--port PORT" in result.stdout and "make demo PORT=" in result.stdout
    # No development secret was made for it.
    assert not (tmp_path / "secret_key").exists()
    assert not (tmp_path / "credential_keys").exists()


def test_a_real_command_without_debug_still_asks_for_the_secret_key(tmp_path: Path) -> None:
    env = {**_env_without_secrets(), "DASHBOARD_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "manage.py", "check"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_demo_refuses_a_taken_port_before_its_banner(tmp_path: Path) -> None:
    import socket

    env = {**_env_without_secrets(), "DEBUG": "true", "DASHBOARD_DATA_DIR": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "manage.py", "demo", "--port", str(port), "--api-port", "0"]
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"make demo PORT={port + 1}" in result.stderr
    assert "Sign in as" not in result.stdout and "Fake Devin API" not in result.stdout
