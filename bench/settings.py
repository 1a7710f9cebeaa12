"""Benchmark settings: the production settings (DEBUG off), plus one database per size and the
benchmark's admin site.

`bench.run` sets the environment (throwaway data dir, generated secrets, BENCH_DATABASES) before
this is read; each process names the size it works on in BENCH_DEFAULT, which becomes its
`default` database (a gunicorn server serves that one size).
"""

from __future__ import annotations

import json
import os

from dashboard.settings import *  # noqa: F403
from dashboard.settings import DATABASES

ROOT_URLCONF = "bench.urls"

_base = DATABASES["default"]
for _alias, _changes in json.loads(os.environ.get("BENCH_DATABASES", "{}")).items():
    DATABASES[_alias] = {
        **_base,
        **_changes,
        "OPTIONS": {**_base.get("OPTIONS", {}), **_changes.get("OPTIONS", {})},
    }
if os.environ.get("BENCH_DEFAULT"):
    DATABASES["default"] = DATABASES[os.environ["BENCH_DEFAULT"]]
MIDDLEWARE = ["bench.middleware.CountQueries", *MIDDLEWARE]  # noqa: F405

# A cache the benchmark process shares with the gunicorn workers, so it can empty it between
# samples of a first open (bench/session_page.py); production keeps Django's per-process default.
CACHES = {
    **CACHES,  # noqa: F405
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),  # noqa: F405
    },
}
