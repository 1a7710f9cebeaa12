"""Command line: ``python -m fakedevin --port 8765``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .faults import FAULT_KINDS, Fault
from .server import FakeDevin

MAX_SESSIONS = 100_000

EPILOG = f"""\
fault kinds: {", ".join(FAULT_KINDS)}
  --fault KIND[:key=value,...] with keys count, method, path, status, retry_after, seconds;
  count=0 keeps the fault until cleared. Examples:
    --fault 429:count=3,retry_after=2
    --fault status:status=503,method=POST,path=/archive,count=0

faults can also be changed while running (no auth on /_fake/):
  curl -X POST localhost:8765/_fake/faults -d '{{"kind": "hang", "count": 1, "seconds": 5}}'
  curl -X DELETE localhost:8765/_fake/faults
  curl localhost:8765/_fake/stats
"""


def _token(value: str) -> tuple[str, str, str]:
    parts = value.split(":", 2)
    if len(parts) != 3 or parts[1] not in ("view", "manage") or not parts[0] or not parts[2]:
        raise argparse.ArgumentTypeError("expected ORG_ID:view:TOKEN or ORG_ID:manage:TOKEN")
    return parts[0], parts[1], parts[2]


def _sessions(value: str) -> int:
    count = int(value)
    if not 0 <= count <= MAX_SESSIONS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SESSIONS}")
    return count


def _latency(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return seconds


def _fault(value: str) -> Fault:
    kind, _, rest = value.partition(":")
    count = 1
    options: dict[str, str | int | float] = {}
    for item in filter(None, rest.split(",")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        if key == "count":
            count = int(raw)
        elif key == "status":
            options[key] = int(raw)
        elif key == "seconds":
            options[key] = float(raw)
        else:
            options[key] = raw
    try:
        return Fault.build(kind, count or None, **options)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fakedevin",
        description=(
            "Fake Devin API v3 (sessions) with deterministic demo data, for the dashboard's\n"
            "demo, tests and benchmarks. Prints each org's id, name and tokens at start."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on, 0 for any (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed for the data and tokens; same seed, same data (default: %(default)s)",
    )
    parser.add_argument(
        "--sessions",
        type=_sessions,
        default=60,
        metavar="N",
        help=f"sessions per org, 0..{MAX_SESSIONS} (default: %(default)s)",
    )
    parser.add_argument(
        "--now",
        type=int,
        default=None,
        metavar="UNIX",
        help="pretend it is this Unix time when generating data (default: the current time)",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        default=0.0,
        metavar="SECONDS",
        help="delay added to every API call (default: %(default)s)",
    )
    parser.add_argument(
        "--token",
        type=_token,
        action="append",
        default=[],
        metavar="ORG_ID:PERM:TOKEN",
        help=(
            "also accept TOKEN for ORG_ID with PERM view or manage (repeatable); "
            "an unknown ORG_ID is created empty"
        ),
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND[:OPTIONS]",
        help="inject a fault at start (repeatable); see below",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fake = FakeDevin(
        seed=args.seed,
        sessions_per_org=args.sessions,
        now=args.now,
        latency=args.latency,
        verbose=args.verbose,
    )
    for org_id, perm, token in args.token:
        fake.add_token(org_id, token, {perm})
    for fault in args.fault:
        fake.inject(fault.kind, fault.count, **fault.options())
    try:
        fake.start(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    print(f"Fake Devin API on {fake.url} (seed {args.seed}, {args.sessions} sessions per org)")
    names = fake.org_names
    for org_id, tokens in fake.tokens.items():
        print(f"  {org_id:<16} {names[org_id]:<12} view: {tokens.get('view', '-')}")
        print(f"  {'':<16} {'':<12} manage: {tokens.get('manage', '-')}")
    print("  GET /_fake/conversations names each org's sessions with made-to-order conversations")
    if args.fault:
        print(f"  faults: {', '.join(f.kind for f in args.fault)}")
    print("Ctrl-C to stop.", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # a timed wait keeps Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
