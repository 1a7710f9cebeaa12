"""A request id for every request, no NUL character in any input, and an idle timeout that
writes at most once a minute.

The id is taken from the proxy or made here, echoed back, and logged. It lives in a contextvar
until the response is closed, and `RequestIdFilter` (configured on the stdout handler in
settings.LOGGING) copies it onto every log record made meanwhile, so one grep for the id finds
the request line and every action line it caused.

`RejectNulMiddleware` answers 400 to a request with a NUL character in a query or form value:
PostgreSQL refuses NUL in text, so such a value would fail whichever query it reached.

`IdleTimeoutMiddleware` renews a signed-in session at most once a minute.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponseBase, QueryDict
from django.shortcuts import render
from django.utils.encoding import escape_uri_path

HEADER = "X-Request-ID"
# What we accept from the proxy: enough for a UUID or a proxy's own id, never anything that
# could break a log line or smuggle text into it.
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# When IdleTimeoutMiddleware last renewed a session (Unix seconds, in the session itself).
RENEWED_KEY = "_renewed_at"
RENEW_EVERY = 60
log = logging.getLogger("dashboard.request")


def _incoming_id(request: HttpRequest) -> str:
    given = request.headers.get(HEADER, "")
    return given if SANE_ID.fullmatch(given) else uuid.uuid4().hex


def _user_id(request: HttpRequest) -> int | str:
    # Absent when a middleware before AuthenticationMiddleware answered (e.g. a bad Host).
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.pk
    return "-"


class RequestIdMiddleware:
    """Tags the request with an id and logs one line for it once it is answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        rid = _incoming_id(request)
        # Not reset on the way out: Django logs 4xx/5xx answers ("Not Found: ...") after the
        # middleware chain returns, and those lines should carry the id too. It is cleared when
        # the response is closed (request_finished, below).
        request_id.set(rid)
        started = time.monotonic()
        response = self.get_response(request)
        response[HEADER] = rid
        # Load balancers poll /healthz every few seconds; their successes are noise at INFO.
        quiet = request.path == "/healthz" and response.status_code == 200
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "request",
            extra={
                "method": request.method,
                # The path only: query strings carry users' search text, and the path,
                # percent-encoded, can never split the line.
                "path": escape_uri_path(request.path),
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000),
                "user_id": _user_id(request),
            },
        )
        return response


def _forget_request_id(**kwargs: object) -> None:
    # The WSGI server closes the response in the thread that served it: the id goes with it,
    # so nothing logged between requests on that thread is pinned on the last one.
    request_id.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="dashboard.middleware.request_id")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record made during a request (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


def _has_nul(params: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in params.lists())


class RejectNulMiddleware:
    """Answers 400, with a page that says why, to a NUL character in a query or form value.

    After every middleware that adds a header, so the answer still gets every security header on
    its way out; before the ones that read a form (the sign-in lockout of django-axes).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            reason = "The request holds a NUL character (%00), which no field here accepts."
            return render(request, "400.html", {"reason": reason}, status=400)
        return self.get_response(request)


class IdleTimeoutMiddleware:
    """Renews a signed-in session's expiry (SESSION_COOKIE_AGE, the idle timeout) at most once
    a minute, instead of on every request (SESSION_SAVE_EVERY_REQUEST).

    Saving the session on every request made every page view, poll and refresh a database write
    (an UPDATE of django_session). Here only the first request of each minute marks the session
    changed, which makes SessionMiddleware save it and send its cookie again with a full
    max-age; the others write nothing. A session therefore ends between SESSION_COOKIE_AGE minus
    a minute and SESSION_COOKIE_AGE after its last request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        session = request.session
        # Anonymous visitors have nothing to renew (and must not get a session row each).
        if request.user.is_authenticated:
            now = int(time.time())
            if now - session.get(RENEWED_KEY, 0) >= RENEW_EVERY:
                session[RENEWED_KEY] = now
        return self.get_response(request)
