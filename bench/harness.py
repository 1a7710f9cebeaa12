"""What every figure of the benchmark stands on: the plan, gunicorn, the fake, timing, results.

Imported by bench.run after Django is set up. ``Harness.start`` migrates the throwaway database,
signs in a site admin and starts gunicorn; each function in bench.figures then measures through
it and records its figures with ``Harness.add``.

Timing: wall-clock medians over many repetitions (the machine is shared and noisy), taken by a
client over loopback HTTP against a real gunicorn (one worker, four threads), so a figure is what a
browser next to the server would wait for. SQL query counts come from Django's test client in this
process, on the same URLs and data.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypedDict

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from dashboard.models import Organization
from fakedevin import FakeDevin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".bench" / "results.json"
SEED = 8
ORG_ID = "org-bench"


@dataclass(frozen=True)
class Plan:
    sizes: list[int]
    page_reps: int  # timed requests per URL and size
    warmup: int
    archive_reps: int
    resync_reps: int
    bulk_sessions: int
    quick: bool


FULL = Plan(
    sizes=[1_000, 10_000, 100_000],
    page_reps=61,
    warmup=5,
    archive_reps=51,
    resync_reps=5,
    bulk_sessions=200,
    quick=False,
)
QUICK = replace(
    FULL, sizes=[1_000, 5_000], page_reps=15, warmup=3, archive_reps=11, resync_reps=3, quick=True
)


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


def show(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    """The dashboard served by gunicorn on loopback, as in production (README), with one worker."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        empty_config = log.with_name("gunicorn.conf.py")
        empty_config.write_text("")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "dashboard.wsgi",
                # Not the project's gunicorn.conf.py: every setting that matters is given here.
                "--config",
                str(empty_config),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--workers",
                "1",
                "--threads",
                "4",
                "--no-control-socket",
                "--log-level",
                "warning",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {log}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Harness:
    """One benchmark run: its plan, servers, signed-in clients, and the figures so far."""

    def __init__(self, plan: Plan, data_dir: Path) -> None:
        self.plan = plan
        self.data_dir = data_dir
        self.figures: list[Figure] = []
        self.chromium_version = ""
        self.org = Organization(name="Bench", org_id=ORG_ID, base_url="http://127.0.0.1:9")
        self.client = Client()  # Django's, in this process: for SQL query counts
        self._fake: FakeDevin | None = None
        self._server: Gunicorn | None = None
        self._http: httpx.Client | None = None
        # Page times per size and URL key, and SQL query counts, for the goals across sizes.
        self.page_times: dict[int, dict[str, list[float]]] = {}
        self.query_counts: dict[int, dict[str, int]] = {}

    def start(self) -> None:
        """Migrate, sign in a site admin, and serve the dashboard with gunicorn."""
        self.step("migrate, collectstatic, start gunicorn")
        if connection.introspection.table_names():
            raise SystemExit("The benchmark's database is not empty; give it a throwaway one.")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        user = get_user_model().objects.create_superuser(
            "bench-admin", "bench@example.com", "unused-password"
        )
        fake = self.use_fake(10)
        self.org.set_token(fake.tokens[ORG_ID]["manage"])
        self.org.save()
        self._server = Gunicorn(self.data_dir / "gunicorn.log")
        self.client.force_login(user)
        self._http = httpx.Client(
            base_url=self._server.url,
            cookies={settings.SESSION_COOKIE_NAME: self.session_cookie},
            headers={"Accept-Encoding": "gzip, deflate, br, zstd"},  # as Chromium sends
            timeout=30,
        )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._server is not None:
            self._server.stop()
        if self._fake is not None:
            self._fake.stop()

    # -- what the figures use -----------------------------------------------------------------

    @property
    def fake(self) -> FakeDevin:
        assert self._fake is not None, "start() first"
        return self._fake

    @property
    def server(self) -> Gunicorn:
        assert self._server is not None, "start() first"
        return self._server

    @property
    def http(self) -> httpx.Client:
        """A client of the gunicorn server, signed in as the site admin."""
        assert self._http is not None, "start() first"
        return self._http

    @property
    def session_cookie(self) -> str:
        return self.client.cookies[settings.SESSION_COOKIE_NAME].value

    @property
    def csrf_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.http.cookies["csrftoken"]}

    def use_fake(self, sessions: int) -> FakeDevin:
        """A fresh fake with ``sessions`` sessions in the bench org, which now points at it."""
        if self._fake is not None:
            self._fake.stop()
        self._fake = FakeDevin(seed=SEED, sessions_per_org=sessions, orgs={ORG_ID: "Bench"})
        self._fake.start()
        if self.org.pk is not None:
            Organization.objects.filter(pk=self.org.pk).update(base_url=self._fake.url)
        self.org.base_url = self._fake.url
        return self._fake

    def sync_in_child(self, mode: str) -> SyncResult:
        with tempfile.NamedTemporaryFile(suffix=".json", dir=self.data_dir) as out:
            subprocess.run(
                [sys.executable, "-m", "bench.sync_child", str(self.org.pk), mode, out.name],
                check=True,
            )
            result: SyncResult = json.loads(Path(out.name).read_text())
        return result

    def fetch(self, url: str) -> tuple[float, int]:
        """Seconds until the whole response arrived, and its size on the wire (compressed)."""
        started = time.perf_counter()
        with self.http.stream("GET", url) as response:
            size = sum(len(chunk) for chunk in response.iter_raw())
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return elapsed, size

    def step(self, text: str) -> None:
        print(f"- {text}", flush=True)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        verdict = {True: "pass", False: "MISS", None: "info"}[figure.passed]
        print(f"  {figure.name}: {show(figure.value)} {figure.unit} [{verdict}]", flush=True)

    # -- results ------------------------------------------------------------------------------

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
