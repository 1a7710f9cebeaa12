"""Benchmark settings: the production settings (DEBUG off) plus the benchmark's admin site.

`bench.run` sets the environment (throwaway data dir, generated secrets) before this is read.
"""

from __future__ import annotations

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
