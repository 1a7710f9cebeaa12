"""Throughput: many signed-in readers at once, from a load generator in its own process.

The load comes from Debian's `wrk` (apt-get install wrk), a C program: a Python client on this
two-core machine would spend on itself much of the CPU the server needs. Twenty connections, each
request signed in as one of 20 readers (viewers of every org) in turn, against one server (the
project's gunicorn.conf.py defaults: 2 workers of 4 threads), for the sessions page and then for
/healthz, which does no more than answer: the ratio says how much of the server's capacity a page
takes. A response other than 200 fails the figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench.harness import Figure, Harness, Size
from bench.plan import READERS

CONNECTIONS = READERS
# Counts non-200 answers per wrk thread, and signs each request in as the next reader.
SCRIPT = """
local cookies = {%(cookies)s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; bad = 0 end
function request()
  n = n + 1
  return wrk.format("GET", nil, {["Cookie"] = "%(name)s=" .. cookies[(n %% #cookies) + 1],
                                 ["Accept-Encoding"] = "gzip"})
end
function response(status, headers, body) if status ~= 200 then bad = bad + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("BAD %%d\\n", total))
end
"""


def throughput(h: Harness, size: Size) -> None:
    h.step(f"throughput at {size.label}: {CONNECTIONS} readers, wrk, {h.plan.load_seconds} s each")
    wrk = shutil.which("wrk")
    if wrk is None:
        h.add(
            Figure(
                f"7.ratio.{size.label}",
                f"Throughput, sessions page / /healthz at {size.label}",
                "not measured",
                "",
                "≥ 0.3",
                False,
                "wrk is not installed: apt-get install wrk",
            )
        )
        return
    script = h.data_dir / "readers.lua"
    cookies = ", ".join(f'"{key}"' for key in size.readers)
    script.write_text(SCRIPT % {"cookies": cookies, "name": settings.SESSION_COOKIE_NAME})
    url = h.server(size).url
    page = _run(wrk, script, f"{url}/", h.plan.load_seconds)
    health = _run(wrk, script, f"{url}/healthz", h.plan.load_seconds)
    for key, label, result in (("page", "sessions page", page), ("healthz", "/healthz", health)):
        h.add(
            Figure(
                f"7.{key}.{size.label}",
                f"Throughput, {label} at {size.label}",
                result.rps,
                "req/s",
                note=f"p50 {result.p50}, p99 {result.p99}; {CONNECTIONS} connections",
            )
        )
    ratio = page.rps / health.rps
    h.add(
        Figure(
            f"7.ratio.{size.label}",
            f"Throughput, sessions page / /healthz at {size.label}",
            ratio,
            "×",
            "≥ 0.3",
            ratio >= 0.3,
            "same server, same run, load from wrk in its own process",
        )
    )


@dataclass(frozen=True)
class Load:
    rps: float
    p50: str
    p99: str


def _run(wrk: str, script: Path, url: str, seconds: int) -> Load:
    done = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    bad = re.search(r"^BAD (\d+)", out, re.M)
    if bad is None or int(bad.group(1)) or "Socket errors" in out:
        raise RuntimeError(f"wrk against {url} saw errors:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    return Load(float(rps.group(1)), p50.group(1), p99.group(1))
