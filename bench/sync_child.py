"""A full sync of every org, in its own process, so its peak memory is its own.

Usage: python -m bench.sync_child full RESULT.json
Reads the benchmark's environment (set by bench.run; BENCH_DEFAULT names the database) and writes
{"seconds", "peak_rss_mb", "state", "error", "pages", "seen", "created", "updated"} to
RESULT.json: the sum over the orgs, synced one after the other as the sync loop does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss is KiB here too, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    mode, out = argv[0], Path(argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from dashboard import sync
    from dashboard.models import Organization

    result: dict[str, object] = {"state": "ok", "error": ""}
    totals = dict.fromkeys(("pages", "seen", "created", "updated"), 0)
    started = time.perf_counter()
    for org in Organization.objects.order_by("pk"):
        run = sync.sync_org(org, full=mode == "full")
        for name in totals:
            totals[name] += getattr(run, name)
        if run.state != "ok":
            result.update(state=run.state, error=run.error)
    result |= {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(), **totals}
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
