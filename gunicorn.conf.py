"""gunicorn settings for the dashboard, read from the environment (listed in README.md).

Run it from the project directory as `gunicorn -c gunicorn.conf.py dashboard.wsgi`: `make serve`,
the container and the systemd unit all do.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]

# Threads, not processes alone: a user's own action (archive, track, test connection) waits on
# the Devin API for up to its deadline, and threads keep other users served meanwhile. Each
# worker holds one database connection per thread. Work that outlives a request (syncs, bulk
# archives, live refreshes) is not here at all: `manage.py db_worker` processes run it.
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 4)

# With gthread a worker heartbeats from its main loop, so this catches a hung process rather than
# one slow request. A request's own wait on Devin is bounded by the action deadline
# (DASHBOARD_ACTION_DEADLINE, 15 s), which 60 s comfortably covers.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On restart or stop, in-flight requests get this long to finish before workers are killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Behind a reverse proxy that reuses connections, keep them a little longer than the default 2 s.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle each worker after this many requests (give or take the jitter, so that they do not all
# restart at once): it bounds what a slow leak can grow to. Safe, since a web worker holds no
# background work; its in-flight requests finish first (graceful_timeout). 0 turns it off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# Which proxy addresses may tell gunicorn the request came over HTTPS (X-Forwarded-Proto). Django
# decides separately, from SECURE_PROXY_SSL_HEADER; set both for a TLS-terminating proxy.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Access log on stdout. It complements the app's own line (dashboard.request: user, duration)
# with the client address and bytes, and covers what never reaches the app's line: static files
# and requests refused before Django. The path is logged without its query string, and the
# request id is the one the app answered with (X-Request-ID), so the two lines join on it.
accesslog = "-"
access_log_format = (
    "%(t)s access method=%(m)s path=%(U)s status=%(s)s bytes=%(b)s duration_ms=%(M)s "
    "remote=%(h)s request_id=%({x-request-id}o)s"
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# gunicorn's runtime control socket would need a writable $HOME (read-only under systemd's
# ProtectSystem=strict and in the container); nothing here uses it.
control_socket_disable = True
