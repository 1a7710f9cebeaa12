"""The documented move from SQLite to PostgreSQL (docs/deploy.md), run for real: a SQLite
dashboard seeded through its commands, deploy/sqlite-to-postgres.sh, then a look at what arrived.

It needs a PostgreSQL server: CI's second pass sets DATABASE_URL to one, and this test makes its
own database on that server (and drops it after). Without one it is skipped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "deploy/sqlite-to-postgres.sh"
SERVER_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = bool(SERVER_URL) and "postgresql" in dj_database_url.parse(SERVER_URL)["ENGINE"]

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs a PostgreSQL server: set DATABASE_URL to one (CI's PostgreSQL pass does)",
)

PASSWORD = "a-long-admin-password-for-the-move"
LIBPQ = {"host", "port", "user", "password", "sslmode", "sslrootcert", "passfile", "service"}
COUNTS = """
import json
from django.contrib.auth import get_user_model
from dashboard.models import AuditEvent, Membership, Organization, Session, SyncRun
models = [get_user_model(), Organization, Membership, Session, SyncRun, AuditEvent]
print(json.dumps({m.__name__: m.objects.count() for m in models}))
"""


def checks(token: str) -> str:
    """Python for `manage.py shell -c`: prints what must survive the move, as JSON."""
    return f"""
import json
from django.contrib.auth import authenticate
from dashboard import crypto
from dashboard.models import Organization
acme = Organization.objects.get(org_id="org-acme")
print(json.dumps({{
    "token_decrypts": crypto.decrypt(acme.token_ciphertext) == {token!r},
    "admin_signs_in": authenticate(username="admin", password={PASSWORD!r}) is not None,
    "member_of": list(acme.memberships.values_list("user__username", "role")),
}}))
"""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the test server, for this test alone."""
    import psycopg

    params = dj_database_url.parse(SERVER_URL)
    name = f"dashboard_move_{uuid.uuid4().hex[:12]}"
    # As Django connects: the URL's parts, then its query (host=/socket/dir&port=...) on top.
    server: dict[str, Any] = {
        "user": params["USER"],
        "password": params["PASSWORD"],
        "host": params["HOST"],
        "port": params["PORT"],
        **{k: v for k, v in params.get("OPTIONS", {}).items() if k in LIBPQ},
        "dbname": "postgres",
    }
    conninfo = psycopg.conninfo.make_conninfo("", **{k: v for k, v in server.items() if v})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(SERVER_URL)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return run(env, sys.executable, "manage.py", *args, stdin=stdin).stdout


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


@needs_postgres
def test_the_documented_move_keeps_every_row_and_the_tokens_still_decrypt(
    tmp_path: Path, postgres_url: str, fake: Any
) -> None:
    drop = {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    sqlite_env = {k: v for k, v in os.environ.items() if k not in drop}
    sqlite_env.update(
        SECRET_KEY="move-test-" + "m" * 40,
        DASHBOARD_CREDENTIAL_KEYS="k1:" + Fernet.generate_key().decode(),
        DASHBOARD_DATA_DIR=str(tmp_path),
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    postgres_env = {**sqlite_env, "DATABASE_URL": postgres_url}

    # A SQLite dashboard with a bit of everything, made the way an operator would.
    manage(sqlite_env, "migrate", "--noinput")
    manage(
        sqlite_env,
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.com",
    )
    token = fake.tokens["org-acme"]["manage"]
    manage(
        sqlite_env,
        "add_org",
        "--org-id=org-acme",
        "--name=Acme",
        f"--base-url={fake.url}",
        "--token-file=-",
        stdin=token,
    )
    manage(sqlite_env, "sync_sessions")  # sessions, a sync run and audit events, from the fake
    manage(
        sqlite_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from dashboard.models import *; "
        "u = get_user_model().objects.create_user('op', password='x-op-password-1'); "
        "Membership.objects.create(user=u, org=Organization.objects.get(), role='operator')",
    )
    before = last_json(manage(sqlite_env, "shell", "-c", COUNTS))
    assert before["User"] == 2 and before["Session"] >= 30 and before["AuditEvent"] >= 2
    assert min(before.values()) > 0
    sqlite_file = tmp_path / "dashboard.sqlite3"
    assert sqlite_file.exists()

    # The move, exactly as documented.
    run({**postgres_env, "PYTHON": sys.executable}, "sh", SCRIPT)

    after = last_json(manage(postgres_env, "shell", "-c", COUNTS))
    assert after == before
    survived = last_json(manage(postgres_env, "shell", "-c", checks(token)))
    assert survived == {
        "token_decrypts": True,
        "admin_signs_in": True,
        "member_of": [["op", "operator"]],
    }
    # Sequences were moved on past the loaded ids: new rows get fresh ones.
    manage(
        postgres_env,
        "add_org",
        "--org-id=org-globex",
        "--name=Globex",
        f"--base-url={fake.url}",
        "--token-file=-",
        stdin=fake.tokens["org-globex"]["manage"],
    )
    assert last_json(manage(postgres_env, "shell", "-c", COUNTS))["Organization"] == 2


@needs_postgres
def test_the_script_refuses_a_database_already_in_use(tmp_path: Path, postgres_url: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        SECRET_KEY="move-test-" + "m" * 40,
        DASHBOARD_CREDENTIAL_KEYS="k1:" + Fernet.generate_key().decode(),
        DASHBOARD_DATA_DIR=str(tmp_path),
        DATABASE_URL=postgres_url,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        PYTHON=sys.executable,
    )
    sqlite_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    manage(sqlite_env, "migrate", "--noinput")
    manage(env, "migrate", "--noinput")
    manage(
        env, "createsuperuser", "--noinput", "--username", "already", "--email", "admin@example.com"
    )
    result = subprocess.run(
        ["sh", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert "already holds users or organizations" in result.stderr


def test_the_guide_shows_the_commands_the_script_runs() -> None:
    guide = (ROOT / "docs/deploy.md").read_text()
    section = guide.split("## From SQLite to PostgreSQL", 1)[1].split("\n## ", 1)[0]
    assert SCRIPT in section
    script = (ROOT / SCRIPT).read_text()
    shown = re.findall(r"^\s*(?:\S*python\S* )?manage\.py (dumpdata|loaddata) (.*)$", section, re.M)
    assert {command for command, _ in shown} == {"dumpdata", "loaddata"}
    for command, args in shown:
        flags = [word for word in args.split() if word.startswith("--")]
        line = next(line for line in script.splitlines() if f"manage.py {command}" in line)
        assert flags == [word for word in line.split() if word.startswith("--")], command
