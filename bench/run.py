"""`make bench`: measure the dashboard against its goals and write .bench/results.json.

Everything runs on a throwaway data dir (SQLite files, generated secrets, DEBUG off): the middle
size is synced from the fake Devin API over loopback HTTP, the others are made from it by bulk
insert, and each size is served by its own gunicorn (gunicorn.conf.py) so that every page is timed
at every size interleaved. See docs/performance.md for what each figure means.

    python -m bench.run            # the full run (10k, 100k, 1M sessions), under 10 minutes
    python -m bench.run --quick    # 1k, 5k, 20k and fewer repetitions, under a minute
    python -m bench.run --quick --only session_page    # one figure that needs no synced data
    python -m bench.run --only search    # the search, tag and count figures (sync and copies too)
    python -m bench.run --only archive     # figure 3 alone (bulk: 13.bulk), on the synced size
    python -m bench.run --only sync    # the full sync of 100k and the no-change re-sync
    python -m bench.run --only load    # figure 7, throughput under 20 readers (sync and copies too)
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

# Variables that would point the benchmark at real secrets, a real database or a TLS-only setup.
CLEARED_ENV = (
    "SECRET_KEY_FILE",
    "DASHBOARD_CREDENTIAL_KEYS_FILE",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "DASHBOARD_CLIENT_IP_HEADER",
)


def prepare_environment(data_dir: Path, database_url: str, sizes: tuple[int, ...]) -> None:
    """The environment every benchmark process (this one, gunicorn, the sync child) reads."""
    from cryptography.fernet import Fernet

    from bench.plan import alias_of, database_settings

    for name in CLEARED_ENV:
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "DASHBOARD_DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DASHBOARD_CREDENTIAL_KEYS": "bench:" + Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # Plain HTTP on loopback: cookies must not be Secure-only.
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            "BENCH_DATABASES": database_settings(data_dir, database_url, sizes),
            # This process works on the synced size (sync, archive, bulk); a server on its own.
            "BENCH_DEFAULT": alias_of(sizes[1]),
        }
    )
    if database_url:
        os.environ["DATABASE_URL"] = database_url


def machine_info() -> dict[str, object]:
    import gunicorn
    from django import get_version
    from django.db import connection

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB"
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": get_version(),
        "gunicorn": gunicorn.__version__,
        "database": connection.vendor,
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway data dir")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="a THROWAWAY PostgreSQL database to use instead of SQLite (BENCH_DATABASE_URL); "
        "the benchmark migrates it and deletes its sessions",
    )
    parser.add_argument("--output", type=Path, help="default: .bench/results.json")
    parser.add_argument(
        "--only",
        choices=["session_page", "search", "archive", "bulk", "sync", "load"],
        help="measure only these figures, to check one change quickly (session_page syncs no "
        "sizes; archive, bulk and sync sync the middle one; search and load build every size)",
    )
    args = parser.parse_args(argv)

    from bench.plan import FULL, QUICK

    plan = QUICK if args.quick else FULL
    data_dir = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    prepare_environment(data_dir, args.database_url, plan.sizes)
    import django

    django.setup()
    from bench import background, figures, load, pages, rules, session_page
    from bench.harness import RESULTS, Harness

    started = time.time()
    machine = machine_info()
    print(
        f"make bench{' QUICK=1' if args.quick else ''}: "
        f"{f'only {args.only}' if args.only else f'sizes {plan.sizes}'}, "
        f"{machine['nproc']} CPUs ({machine['cpu']}), {machine['database']}, data in {data_dir}",
        flush=True,
    )
    h = Harness(plan, data_dir, args.database_url)
    try:
        h.step("migrate, collectstatic, orgs and users in each database")
        h.prepare_databases()
        if args.only == "session_page":
            h.step("start a gunicorn per size (gunicorn.conf.py)")
            h.start_servers()
            session_page.session_page_render(h)
        elif args.only == "search":
            figures.full_sync(h)
            figures.copies(h)
            h.step("start a gunicorn per size (gunicorn.conf.py)")
            h.start_servers()
            pages.pages(h, only=pages.SEARCH_VIEWS)
            pages.counters(h)
        elif args.only in ("archive", "bulk"):
            figures.full_sync(h)  # the synced size only: both figures act on its sessions
            h.step("start a gunicorn per size (gunicorn.conf.py)")
            h.start_servers()
            if args.only == "archive":
                figures.archive_overhead(h)
            else:
                background.bulk_archive_on_workers(h)
        elif args.only == "load":  # figure 7: throughput, as in the full run
            figures.full_sync(h)
            figures.copies(h)
            h.step("start a gunicorn per size (gunicorn.conf.py)")
            h.start_servers()
            for size in (h.large,) if plan.quick else (h.synced, h.large):
                load.throughput(h, size)
        elif args.only == "sync":  # figures 5 and 5b: the full sync, then the re-syncs
            figures.full_sync(h)
            figures.resync(h)
        else:
            figures.full_sync(h)
            figures.copies(h)
            h.step("start a gunicorn per size (gunicorn.conf.py)")
            h.start_servers()
            pages.pages(h)
            pages.counters(h)
            for size in (h.large,) if plan.quick else (h.synced, h.large):
                load.throughput(h, size)
            rules.rule_matches(h)
            figures.archive_overhead(h)
            session_page.session_page_render(h)
            background.bulk_archive_on_workers(h)
            figures.resync(h)
            figures.first_load(h, h.large)
            background.sync_now_latency(h)
    finally:
        h.close()
        if not args.keep:
            h.drop_schemas()
            shutil.rmtree(data_dir, ignore_errors=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    machine["chromium"] = h.chromium_version
    # A partial run does not overwrite the full run's results.
    output = args.output or (RESULTS.with_name(f"{args.only}.json") if args.only else RESULTS)
    h.write_results(output, started, machine)
    # Missed goals are findings, not failures of the benchmark: exit 0 so the table is the output.
    return 0


if __name__ == "__main__":
    sys.exit(main())
