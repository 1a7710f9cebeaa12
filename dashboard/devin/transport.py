"""How requests reach the Devin API: the shared httpx client, auth, timeouts, retries, and turning
every failure into a `DevinError` that carries what happened.

Secrets: the API token lives only inside `BearerAuth`, whose repr is redacted, and is added to
each request by httpx. Errors are raised outside the `except` block that caught the httpx error,
so no chained httpx exception (whose request holds the Authorization header) travels with them.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final, TypeVar

import httpx
from django.conf import settings

from dashboard import __version__
from dashboard.devin import guard
from dashboard.devin.errors import DevinError, Kind, Misconfigured, kind_of_status, make_error
from dashboard.devin.guard import guarded_transport
from dashboard.devin.problems import clip, error_detail, load_json, retry_after_seconds

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT: Final = f"devin-sessions-dashboard/{__version__}"

# Statuses worth another try: 429 asks us to slow down; 502/503/504 are the gateway or the service
# briefly unable to answer. A 500 is a bug on their side that a retry rarely fixes, so it is not
# retried.
_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
# Backoff for failures without Retry-After: "full jitter" (a random wait between 0 and an
# exponentially growing ceiling), so many dashboards hitting one recovering server spread out.
_BACKOFF_BASE: Final = 0.5
_BACKOFF_CAP: Final = 8.0
# The budget bounds the *sleeping*; the attempt cap bounds how many times a slow server can make
# us wait a full read timeout.
MAX_ATTEMPTS: Final = 5
# With a deadline, an attempt that would have less time than this is not started: it could not
# get an answer anyway, and a person is waiting.
MIN_ATTEMPT_SECONDS: Final = 0.1

_shared_http: httpx.Client | None = None
_shared_http_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """The process-wide httpx.Client, created on first use so its pool is reused by every org.

    Created lazily (not at import) so a pre-forking server makes it in each worker, and under a
    lock so two threads that need it at once do not build two pools.
    """
    global _shared_http
    client = _shared_http
    if client is None:
        with _shared_http_lock:
            client = _shared_http
            if client is None:
                # Redirects are not followed: the API does not redirect, and following one could
                # hand a request to a host the admin never configured.
                # Connections are guarded: no name may lead to a link-local address.
                client = httpx.Client(transport=guarded_transport(), follow_redirects=False)
                # Close pooled connections at exit rather than leave them to the garbage collector
                # (which warns about each unclosed socket).
                atexit.register(client.close)
                _shared_http = client
    return client


def api_host(base_url: str) -> str | None:
    """The host[:port] of a usable API base URL; None if it is not one.

    Usable: http(s), a host, and no user info (credentials in a URL end up in logs), query or
    fragment.
    """
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    if url.userinfo or url.query or url.fragment:
        return None
    return url.host + (f":{url.port}" if url.port else "")


def _setting(name: str, default: float) -> float:
    # Read at call time so tests (and a settings change) take effect without re-importing.
    return float(getattr(settings, name, default))


def _timeout(left: float | None) -> httpx.Timeout:
    """One attempt's timeouts; with a deadline, none longer than the time `left` before it."""
    # Connect short (a dead host should fail fast), read longer (a page of 200 sessions can be
    # slow); write and pool waits share the read budget.
    read = _setting("DEVIN_READ_TIMEOUT", 20.0)
    connect = _setting("DEVIN_CONNECT_TIMEOUT", 5.0)
    if left is not None:
        read, connect = min(read, left), min(connect, left)
    return httpx.Timeout(read, connect=connect)


def _next_wait(retry_after: float | None, remaining: float, attempt: int) -> float | None:
    """Seconds to wait before another attempt; None when what is left of the budget cannot."""
    if retry_after is not None:
        return retry_after if retry_after <= remaining else None
    if remaining <= 0:
        return None
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0 ** (attempt - 1))
    return min(random.uniform(0, ceiling), remaining)


class BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <token>`; the only object holding the token. Never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._header = f"Bearer {token}"

    def redact(self, text: str) -> str:
        """Remove the token from text that came back from the server (some echo what they got)."""
        return text.replace(self._token, "[redacted]")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth [redacted]>"


@dataclass(frozen=True)
class _Failure:
    """A request that got no HTTP answer."""

    error: DevinError
    # True only when the request certainly never reached the server, so even a POST may be
    # sent again without risking a double action.
    never_sent: bool
    # False for failures that another try cannot fix (a bad certificate, an invalid URL).
    retryable: bool = True


@dataclass(frozen=True, kw_only=True)
class Transport:
    """Sends one organization's requests and reads the answers. Used by `DevinClient`."""

    base_url: str
    host: str
    org: str
    org_name: str
    who: str  # org_name and org, for log lines
    auth: BearerAuth
    http: httpx.Client
    sleep: Callable[[float], None]
    clock: Callable[[], float] = time.monotonic

    def call(
        self,
        method: str,
        path: str,
        parse: Callable[[object], T],
        *,
        operation: str,
        session_id: str = "",
        params: list[tuple[str, str]] | None = None,
        json_body: object = None,
        deadline: float | None = None,
    ) -> T:
        """Send a request with the retry rules of `_fetch` and parse the JSON answer.

        `deadline` (a `clock()` instant) bounds the whole call, retries and waits included.
        Every DevinError it raises says whose request it was (org, host, operation, session).
        """
        error: DevinError
        try:
            body = self._fetch(method, path, params, json_body, deadline)
        except DevinError as exc:
            error = exc
        else:
            try:
                return parse(body)
            except DevinError as exc:
                # A 2xx answer: a POST took effect even if what it returned cannot be read.
                exc.maybe_applied = method != "GET"
                exc.accepted = True
                error = exc
        # Raised here, outside the except blocks, so nothing is chained to it.
        error.org, error.org_name, error.host = self.org, self.org_name, self.host
        error.operation, error.session_id = operation, session_id
        error.detail = self.auth.redact(error.detail)
        raise error

    def _fetch(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        json_body: object,
        deadline: float | None,
    ) -> object:
        """Send until an answer can be used or retrying is no longer allowed; the JSON body.

        Retries: a GET changes nothing, so it is retried on 429/502/503/504 and on any network
        failure. Other methods (POST, PUT, DELETE) are retried only when they never reached the
        server (it could not connect) or when the server answered 429, which means it refused
        the request without acting, and said in Retry-After when to come back. A POST that timed
        out while waiting for the answer may have been applied, so it is not sent again.
        Waits honour Retry-After, otherwise use exponential backoff with full jitter, and all
        waits together stay within DEVIN_RETRY_BUDGET seconds. A Retry-After beyond what is
        left of the budget ends the retries at once, and the error carries retry_after.
        With a deadline, each attempt's timeouts end by it, and no wait or attempt starts that
        would end past it; without one (sync), only the timeouts and the budget bound a call.
        """
        budget = _setting("DEVIN_RETRY_BUDGET", 10.0)
        waited = 0.0
        attempt = 0
        left = self._left(deadline)
        if left is not None and left < MIN_ATTEMPT_SECONDS:
            raise make_error(Kind.OUT_OF_TIME, detail=f"{max(left, 0.0):.2f}s left")
        while True:
            attempt += 1
            outcome = self._send(method, self.base_url + path, params, json_body, _timeout(left))
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return self._json(outcome, method)
                error = self._error_for(outcome, method)
                # A 429 with Retry-After: the server refused without acting, so even a POST
                # may come back then.
                refused_for_now = outcome.status_code == 429 and error.retry_after is not None
                retry = outcome.status_code in _RETRY_STATUSES and (
                    method == "GET" or refused_for_now
                )
            else:
                error = outcome.error
                retry = outcome.retryable and (method == "GET" or outcome.never_sent)
                error.maybe_applied = method != "GET" and not outcome.never_sent

            delay = None
            left = self._left(deadline)
            if retry and attempt < MAX_ATTEMPTS:
                allowed = budget - waited
                if left is not None:
                    # The wait and one worthwhile attempt after it must end by the deadline.
                    allowed = min(allowed, left - MIN_ATTEMPT_SECONDS)
                delay = _next_wait(error.retry_after, allowed, attempt)
            if delay is None:
                raise error
            logger.warning(
                "Devin API %s %s failed for %s (%s); retrying in %.1fs",
                method,
                path,
                self.who,
                error.status_code or error.kind,
                delay,
            )
            self.sleep(delay)
            waited += delay
            left = self._left(deadline)

    def _left(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - self.clock()

    def _send(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]] | None,
        json_body: object,
        timeout: httpx.Timeout,
    ) -> httpx.Response | _Failure:
        """One attempt. Returns the response, or a _Failure if no HTTP answer came back.

        The httpx exception is turned into a _Failure inside the except block and raised later
        by the caller, outside it, so it is never chained to (and does not carry) the httpx one.
        """
        request = self.http.build_request(
            method,
            url,
            params=tuple(params) if params else None,
            json=json_body,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=timeout,
        )
        try:
            return self.http.send(request, auth=self.auth)
        except httpx.HTTPError as exc:
            return self._failure(exc)
        except httpx.InvalidURL:
            bad_url = Misconfigured("base_url", detail=clip(self.base_url, 80))
            return _Failure(bad_url, never_sent=True, retryable=False)

    def _failure(self, exc: httpx.HTTPError) -> _Failure:
        detail = clip(self.auth.redact(f"{type(exc).__name__}: {exc}"))
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            # Never got a connection: nothing was sent.
            return _Failure(make_error(Kind.CONNECT_TIMEOUT, detail=detail), never_sent=True)
        if isinstance(exc, httpx.TimeoutException):
            return _Failure(make_error(Kind.TIMEOUT, detail=detail), never_sent=False)
        if isinstance(exc, httpx.ConnectError):
            text = str(exc).lower()
            if guard.REFUSED in text:
                # Never connected: the name leads where no Devin API is (cloud credentials).
                reason = f"{clip(str(exc))}, never a Devin API."
                refused = Misconfigured("base_url", detail=clip(self.base_url, 80), reason=reason)
                return _Failure(refused, never_sent=True, retryable=False)
            if any(word in text for word in ("ssl", "tls", "certificate")):
                # A certificate problem will not fix itself in the next few seconds.
                return _Failure(
                    make_error(Kind.TLS, detail=detail), never_sent=True, retryable=False
                )
            if any(
                word in text
                for word in ("name or service", "nodename", "getaddrinfo", "name resolution")
            ):
                kind = Kind.DNS
            elif "refused" in text:
                kind = Kind.REFUSED
            else:
                kind = Kind.CONNECT_FAILED
            return _Failure(make_error(kind, detail=detail), never_sent=True)
        if isinstance(exc, httpx.UnsupportedProtocol):
            bad_url = Misconfigured("base_url", detail=clip(self.base_url, 80))
            return _Failure(bad_url, never_sent=True, retryable=False)
        if isinstance(exc, httpx.DecodingError):
            undecodable = make_error(Kind.UNDECODABLE, detail=detail)
            return _Failure(undecodable, never_sent=False, retryable=False)
        # Read/write errors, protocol errors: the request may have been received.
        return _Failure(make_error(Kind.CONNECTION_LOST, detail=detail), never_sent=False)

    def _json(self, response: httpx.Response, method: str) -> object:
        try:
            return load_json(response.content)
        except ValueError:
            pass  # raised below, outside the except block: the JSONDecodeError holds the body
        content_type = clip(response.headers.get("content-type", "no content type"), 60)
        body = clip(self.auth.redact(response.content.decode("utf-8", "replace")))
        error = make_error(
            Kind.NOT_JSON,
            status_code=response.status_code,
            detail=clip(f"{content_type}: {body}"),
            maybe_applied=method != "GET",
        )
        error.accepted = True  # only a 2xx body is read: what it says is lost, not its status
        raise error

    def _error_for(self, response: httpx.Response, method: str) -> DevinError:
        """The DevinError for an HTTP answer that is not 2xx."""
        status = response.status_code
        retry_after = None
        if status in _RETRY_STATUSES:
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return make_error(
            kind_of_status(status),
            status_code=status,
            # The body of a 5xx is often a proxy's HTML page: kept in detail, for logs.
            detail=error_detail(self.auth.redact(response.content.decode("utf-8", "replace"))),
            retry_after=retry_after,
            # A 4xx means the API refused the request; after a 5xx a POST may have been applied.
            maybe_applied=method != "GET" and status >= 500,
        )
