"""One sync in its own process, so its peak memory is its own: `python -m bench.sync_child`.

Usage: python -m bench.sync_child ORG_PK full|incremental RESULT.json
Reads the benchmark's environment (set by bench.run) and writes {"seconds", "peak_rss_mb",
"state", "pages", "seen", "created", "updated"} to RESULT.json.
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
    org_pk, mode, out = int(argv[0]), argv[1], Path(argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from dashboard import sync
    from dashboard.models import Organization

    org = Organization.objects.get(pk=org_pk)
    started = time.perf_counter()
    run = sync.sync_org(org, full=mode == "full")
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "state": run.state,
        "error": run.error,
        "pages": run.pages,
        "seen": run.seen,
        "created": run.created,
        "updated": run.updated,
    }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
