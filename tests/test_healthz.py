from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
SECRET_BITS = ("hunter2", "db.internal", "5432", "password", "Traceback", "OperationalError")


@pytest.mark.django_db
def test_healthz_is_503_without_details_when_the_database_fails(client: Client) -> None:
    failure = OperationalError('connection to server at "db.internal", port 5432 failed: hunter2')
    with mock.patch.object(connection, "cursor", side_effect=failure):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}
    assert "no-cache" in response["Cache-Control"]  # a proxy must never serve a stale "down"
    assert not any(bit in response.content.decode() for bit in SECRET_BITS)


@pytest.mark.django_db
def test_healthz_answers_without_a_session_or_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert set(response.json()) == {"status", "database", "version"}
    assert "Set-Cookie" not in response.headers


def test_healthz_is_503_when_the_configured_database_is_unreachable(tmp_path: Path) -> None:
    """The real thing: the app started against a PostgreSQL nobody listens on (port 9)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DATABASE_URL="postgres://dashboard:hunter2@127.0.0.1:9/dashboard?connect_timeout=2",
        DASHBOARD_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DEBUG="false",
        ALLOWED_HOSTS="testserver",
    )
    probe = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); "
        "print(json.dumps({'status': r.status_code, 'body': r.content.decode()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert json.loads(answer["body"]) == {"status": "error", "database": "unreachable"}
    assert "hunter2" not in answer["body"]
