"""What every figure of the benchmark stands on: the plan, the databases, the servers, the fake,
signed-in clients, timing and the results file.

Imported by bench.run after Django is set up (bench.settings). There is one database per size
(`Size.alias`), each served by its own gunicorn started the production way (`gunicorn -c
gunicorn.conf.py dashboard.wsgi`, its defaults: 2 workers of 4 threads), all running at once, so
that the page figures of every size are taken interleaved, under the same load. In this process
the middle (synced) size is also the `default` database, the one the sync, archive and bulk
figures work on.

Timing: wall-clock medians over many repetitions (the machine is shared and noisy), taken by a
client over loopback HTTP, so a figure is what a browser next to the server would wait for.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

import httpx
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session as SignIn
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from bench.plan import ORGS, READERS, Plan, alias_of, size_label
from dashboard.models import Membership, Organization
from fakedevin import FakeDevin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".bench" / "results.json"
SEED = 8


@dataclass
class Figure:
    key: str
    name: str
    value: float | int | str
    unit: str
    goal: str = ""
    passed: bool | None = None
    note: str = ""
    samples: int | None = None


class SyncResult(TypedDict):
    """What bench.sync_child writes."""

    seconds: float
    peak_rss_mb: float
    state: str
    error: str
    pages: int
    seen: int
    created: int
    updated: int


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] * 1000 if len(samples) > 1 else samples[0]


def show(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    """One size's database served as in production: gunicorn with the project's gunicorn.conf.py
    (its defaults: 2 gthread workers of 4 threads), on a loopback port."""

    def __init__(self, alias: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        env = {**os.environ, "BENCH_DEFAULT": alias, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dashboard.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {self._log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@dataclass
class Size:
    """One size: its database alias, its server, and clients signed in to it."""

    n: int
    alias: str
    server: Gunicorn | None = None
    http: httpx.Client | None = None  # signed in as the site admin
    admin_cookie: str = ""
    readers: tuple[str, ...] = ()  # session cookies of the throughput figure's readers

    @property
    def label(self) -> str:
        return size_label(self.n)


class Harness:
    """One benchmark run: its plan, databases, servers, clients, and the figures so far."""

    def __init__(self, plan: Plan, data_dir: Path, database_url: str) -> None:
        self.plan = plan
        self.data_dir = data_dir
        self.postgres = bool(database_url)
        self.figures: list[Figure] = []
        self.chromium_version = ""
        self.sizes = [Size(n, alias_of(n)) for n in plan.sizes]
        self.small, self.synced, self.large = self.sizes
        self.orgs: list[Organization] = []
        self._fake: FakeDevin | None = None
        # Page times per size label and URL key, for the goals across sizes.
        self.page_times: dict[str, dict[str, list[float]]] = {}
        self.started = time.monotonic()

    # -- set-up ---------------------------------------------------------------------------------

    def prepare_databases(self) -> None:
        """Check that the databases are empty, then migrate them and add the orgs and users."""
        if self.postgres:
            self._prepare_schemas()
        for size in self.sizes:
            if connections[size.alias].introspection.table_names():
                raise SystemExit("The benchmark's database is not empty; give it a throwaway one.")
        call_command("collectstatic", verbosity=0, interactive=False)
        per_org = self.synced.n // ORGS
        self._fake = FakeDevin(
            seed=SEED,
            sessions_per_org=per_org,
            orgs={f"org-bench-{n}": f"Bench {n}" for n in range(ORGS)},
        )
        self._fake.start()
        # Each in a process whose default database is that one, as a deployment migrates: data
        # migrations (RunPython) write through the default connection. On PostgreSQL all three
        # at once; SQLite files are copies of the first one migrated (a third of the CPU).
        migrated = self.sizes if self.postgres else self.sizes[:1]
        migrations = [
            subprocess.Popen(
                [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
                cwd=ROOT,
                env={**os.environ, "BENCH_DEFAULT": size.alias},
            )
            for size in migrated
        ]
        if any(process.wait() for process in migrations):
            raise RuntimeError("migrate failed; see above")
        for size in self.sizes[len(migrated) :]:
            self._copy_sqlite(migrated[0], size)
        for size in self.sizes:
            self._add_orgs_and_users(size)

    @staticmethod
    def _copy_sqlite(source: Size, target: Size) -> None:
        """The migrated empty database `source` copied into `target`'s file (SQLite's backup)."""
        connections[target.alias].close()
        names = [connections[size.alias].settings_dict["NAME"] for size in (source, target)]
        with sqlite3.connect(names[0]) as src, sqlite3.connect(names[1]) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def _prepare_schemas(self) -> None:
        with connections[self.synced.alias].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema')"
            )
            if cursor.fetchone()[0]:
                raise SystemExit("The benchmark's database is not empty; give it a throwaway one.")
            # In public, where every size's search path finds it.
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            for size in self.sizes:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS bench_{size.alias}")

    def drop_schemas(self) -> None:
        if not self.postgres:
            return
        with connections[self.synced.alias].cursor() as cursor:
            for size in self.sizes:
                cursor.execute(f"DROP SCHEMA IF EXISTS bench_{size.alias} CASCADE")

    def _add_orgs_and_users(self, size: Size) -> None:
        """The same orgs and users, with the same pks, in every size's database."""
        using = size.alias
        tokens = self.fake.tokens
        orgs = []
        for n in range(ORGS):
            org = Organization(name=f"Bench {n}", org_id=f"org-bench-{n}", base_url=self.fake.url)
            org.set_token(tokens[org.org_id]["manage"])
            org.save(using=using)
            orgs.append(org)
        if size is self.synced:
            self.orgs = orgs
        admin = User(username="bench-admin", is_staff=True, is_superuser=True)
        admin.set_unusable_password()
        admin.save(using=using)
        readers = []
        for n in range(READERS):
            reader = User(username=f"reader-{n}")
            reader.set_unusable_password()
            reader.save(using=using)
            Membership.objects.using(using).bulk_create(
                Membership(user=reader, org=org, role=Membership.Role.VIEWER) for org in orgs
            )
            readers.append(self._sign_in(using, reader))
        size.readers = tuple(readers)
        size.admin_cookie = self._sign_in(using, admin)
        size.http = httpx.Client(
            cookies={settings.SESSION_COOKIE_NAME: size.admin_cookie},
            headers={"Accept-Encoding": "gzip, deflate, br, zstd"},  # as Chromium sends
            timeout=60,
        )

    @staticmethod
    def _sign_in(using: str, user: User) -> str:
        """A session cookie for `user`, as a sign-in would store it, in that database."""
        store = SessionStore()
        key = secrets.token_hex(16)
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        SignIn.objects.using(using).create(
            session_key=key,
            session_data=store.encode(data),
            expire_date=timezone.now() + timedelta(days=1),
        )
        return key

    def start_servers(self) -> None:
        for size in self.sizes:
            size.server = Gunicorn(size.alias, self.data_dir / f"gunicorn-{size.alias}.log")
        for size in self.sizes:
            assert size.server is not None and size.http is not None
            size.server.wait_until_up()
            size.http.base_url = httpx.URL(size.server.url)

    def close(self) -> None:
        for size in self.sizes:
            if size.http is not None:
                size.http.close()
            if size.server is not None:
                size.server.stop()
        if self._fake is not None:
            self._fake.stop()

    # -- what the figures use -------------------------------------------------------------------

    @property
    def fake(self) -> FakeDevin:
        assert self._fake is not None, "prepare_databases() first"
        return self._fake

    def source_table(self, target: Size) -> str:
        """The synced size's session table as `target`'s connection can read it."""
        if self.postgres:
            return f"bench_{self.synced.alias}.dashboard_session"
        path = connections[self.synced.alias].settings_dict["NAME"]
        with connections[target.alias].cursor() as cursor:
            cursor.execute("ATTACH DATABASE %s AS synced", [str(path)])
        return "synced.dashboard_session"

    def release_source(self, target: Size) -> None:
        if not self.postgres:
            with connections[target.alias].cursor() as cursor:
                cursor.execute("DETACH DATABASE synced")

    def sync_in_child(self) -> SyncResult:
        """A full sync of every org into the synced size's database, in a child process."""
        with tempfile.NamedTemporaryFile(suffix=".json", dir=self.data_dir) as out:
            subprocess.run(
                [sys.executable, "-m", "bench.sync_child", "full", out.name],
                check=True,
                cwd=ROOT,
                env={**os.environ, "BENCH_DEFAULT": self.synced.alias},
            )
            result: SyncResult = json.loads(Path(out.name).read_text())
        return result

    # What bench.background measures through: the synced size, its server and its first org.
    @property
    def http(self) -> httpx.Client:
        return self.client(self.synced)

    @property
    def csrf_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.http.cookies["csrftoken"]}

    @property
    def org(self) -> Organization:
        return self.orgs[0]

    @staticmethod
    def client(size: Size) -> httpx.Client:
        assert size.http is not None, "prepare_databases() first"
        return size.http

    @staticmethod
    def server(size: Size) -> Gunicorn:
        assert size.server is not None, "start_servers() first"
        return size.server

    def fetch(self, size: Size, url: str) -> tuple[float, httpx.Response]:
        """Seconds until the whole response arrived, and the response (body read)."""
        started = time.perf_counter()
        response = self.client(size).get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{size.label} {url} answered {response.status_code}")
        return elapsed, response

    def fetch_counted(self, size: Size, url: str) -> tuple[float, httpx.Response]:
        """`fetch`, with the server counting the request's SQL queries (X-Bench-Queries)."""
        started = time.perf_counter()
        response = self.client(size).get(url, headers={"X-Bench-Queries": "1"})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{size.label} {url} answered {response.status_code}")
        return elapsed, response

    def step(self, text: str) -> None:
        print(f"- [{time.monotonic() - self.started:5.0f} s] {text}", flush=True)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        verdict = {True: "pass", False: "MISS", None: "info"}[figure.passed]
        print(f"  {figure.name}: {show(figure.value)} {figure.unit} [{verdict}]", flush=True)

    # -- results --------------------------------------------------------------------------------

    def write_results(self, output: Path, started: float, machine: dict[str, object]) -> None:
        """Write the figures and the machine to ``output`` as JSON, and print them as a table."""
        seconds = round(time.time() - started, 1)
        report = {
            "quick": self.plan.quick,
            "plan": asdict(self.plan),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "seconds": seconds,
            "machine": machine,
            "figures": [asdict(f) for f in self.figures],
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
        print()
        print_table(self.figures)
        missed = [f.name for f in self.figures if f.passed is False]
        shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
        print(
            f"\n{len(self.figures)} figures in {seconds:.0f} s, {len(missed)} goal(s) missed; "
            f"written to {shown}"
        )


def print_table(figures: list[Figure]) -> None:
    rows = [("figure", "value", "goal", "result")]
    for f in figures:
        verdict = {True: "pass", False: "MISS", None: ""}[f.passed]
        rows.append((f.name, f"{show(f.value)} {f.unit}".strip(), f.goal, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
