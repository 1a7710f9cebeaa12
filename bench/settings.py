"""Benchmark settings: the production settings (DEBUG off) plus the benchmark's admin site.

`bench.run` sets the environment (throwaway data dir, generated secrets) before this is read.
"""

from __future__ import annotations

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# A cache the benchmark process shares with the gunicorn workers, so it can empty it between
# samples of a first open (bench/session_page.py); production keeps Django's per-process default.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),  # noqa: F405
    }
}
