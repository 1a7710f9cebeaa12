"""The HTTP side of the fake Devin API, and ``FakeDevin``, its in-process handle.

Standard library only: ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (every
response has a Content-Length), one daemon thread per connection. See the package docstring
for the endpoints and ``store``/``faults`` for the behaviour they document.

Auth: ``Authorization: Bearer <token>``. A missing or unknown token is 401. A valid token
used on another org's path is 403 (not 404: the fake tells the truth about the mistake,
which is what a dashboard operator needs to fix a misconfigured org id). A view-only token
gets 403 on archive/unarchive/terminate. Errors are RFC 9457 ``application/problem+json``.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import seed as seeding
from .faults import BODY_FAULTS, BODY_TRANSFORMS, Fault, FaultBook, malformed_json
from .store import (
    SESSION_FIELDS,
    Query,
    SessionStore,
    canonical_session_id,
    decode_cursor,
)

VIEW = "view"
MANAGE = "manage"
PERMISSION_NAMES = {VIEW: "ViewOrgSessions", MANAGE: "ManageOrgSessions"}
_CATEGORIES = frozenset(seeding.CATEGORIES)
# RFC 9110 renamed 422; Python's HTTPStatus still has the old phrase, the spec uses the new.
_TITLES = {422: "Unprocessable Content"}
_ORIGINS = frozenset(origin for origin, _ in seeding.ORIGINS)


@dataclass(frozen=True)
class Principal:
    """The service user behind a token."""

    org_id: str
    perms: frozenset[str]
    service_user_id: str
    service_user_name: str


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: Any = None  # the decoded body, kept so body faults can rewrite it


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _copy(session: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, exactly as a client would decode it."""
    decoded: dict[str, Any] = json.loads(_encode(session))
    return decoded


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status, _encode(payload), headers=headers or [], payload=payload)


def problem(
    status: int,
    detail: str | None,
    instance: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """An RFC 9457 problem, shaped like the spec's ProblemDetail."""
    payload: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        payload["errors"] = errors
    return Response(
        status,
        _encode(payload),
        content_type="application/problem+json",
        headers=headers or [],
        payload=payload,
    )


class _BadParams(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid parameters")
        self.errors = errors


def _param_error(name: str, message: str, kind: str) -> dict[str, Any]:
    # FastAPI's error item shape, which the real API keeps inside ``errors``.
    return {"loc": ["query", name], "msg": message, "type": kind}


def parse_list_query(raw_query: str) -> Query:
    """Validate the list endpoint's flat query params; _BadParams lists every problem."""
    params = parse_qs(raw_query, keep_blank_values=True)
    errors: list[dict[str, Any]] = []

    def last(name: str) -> str | None:
        values = params.get(name)
        return values[-1] if values else None

    def integer(name: str) -> int | None:
        value = last(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            errors.append(_param_error(name, "Input should be a valid integer", "int_parsing"))
            return None

    first = integer("first")
    if first is None:
        first = 100
    elif not 1 <= first <= 200:
        errors.append(_param_error("first", "Input should be between 1 and 200", "range_error"))

    after = None
    cursor = last("after")
    if cursor:
        try:
            after = decode_cursor(cursor)
        except ValueError:
            errors.append(_param_error("after", "Invalid cursor", "value_error"))

    is_archived = None
    archived_raw = last("is_archived")
    if archived_raw is not None:
        lowered = archived_raw.lower()
        if lowered in ("true", "1"):
            is_archived = True
        elif lowered in ("false", "0"):
            is_archived = False
        else:
            errors.append(
                _param_error("is_archived", "Input should be a valid boolean", "bool_parsing")
            )

    origins = params.get("origins")
    for origin in origins or ():
        if origin not in _ORIGINS:
            errors.append(_param_error("origins", f"Unknown origin {origin!r}", "enum"))
    category = last("category")
    if category is not None and category not in _CATEGORIES:
        errors.append(_param_error("category", f"Unknown category {category!r}", "enum"))

    query = Query(
        first=first,
        after=after,
        created_after=integer("created_after"),
        created_before=integer("created_before"),
        updated_after=integer("updated_after"),
        updated_before=integer("updated_before"),
        is_archived=is_archived,
        session_ids=frozenset(params["session_ids"]) if "session_ids" in params else None,
        tags=frozenset(params["tags"]) if "tags" in params else None,
        origins=frozenset(origins) if origins else None,
        category=category,
    )
    if errors:
        raise _BadParams(errors)
    return query


_SELF = re.compile(r"/v3/self")
_SESSIONS = re.compile(r"/v3/organizations/(?P<org>[^/]+)/sessions")
_SESSION = re.compile(r"/v3/organizations/(?P<org>[^/]+)/sessions/(?P<sid>[^/]+)")
_ACTION = re.compile(
    r"/v3/organizations/(?P<org>[^/]+)/sessions/(?P<sid>[^/]+)/(?P<action>archive|unarchive)"
)
_FAKE_SESSION = re.compile(r"/_fake/sessions/(?P<org>[^/]+)(?:/(?P<sid>[^/]+))?")


class FakeDevin:
    """A fake Devin API v3 server with deterministic data; see the package docstring."""

    def __init__(
        self,
        seed: int = 1,
        sessions_per_org: int = 60,
        orgs: Sequence[str] | Mapping[str, str] | None = None,
        *,
        now: float | None = None,
        latency: float = 0.0,
        verbose: bool = False,
    ) -> None:
        self.seed = seed
        self.now = int(time.time() if now is None else now)
        self.latency = latency  # seconds added to every API call; safe to change while serving
        self.verbose = verbose
        self.store = SessionStore()
        self._faults = FaultBook()
        self._principals: dict[str, Principal] = {}
        self._tokens: dict[str, dict[str, str]] = {}
        self._stats_lock = threading.Lock()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._calls: list[tuple[str, str]] = []
        self._rng_lock = threading.Lock()
        self._rng = random.Random(f"{seed}:added-sessions")
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        if orgs is None:
            orgs = seeding.DEMO_ORGS
        names = dict(orgs) if isinstance(orgs, Mapping) else {o: seeding.org_name(o) for o in orgs}
        for org_id, name in names.items():
            sessions = seeding.generate_sessions(org_id, sessions_per_org, seed=seed, now=self.now)
            self._add_org(org_id, name, sessions)

    def _add_org(self, org_id: str, name: str, sessions: Sequence[dict[str, Any]] = ()) -> None:
        self.store.add_org(org_id, name, sessions)
        slug = org_id.removeprefix("org-")
        for perm, label in ((VIEW, "readonly"), (MANAGE, "admin")):
            token = seeding.make_token(self.seed, org_id, perm)
            self._principals[token] = Principal(
                org_id,
                frozenset({VIEW, MANAGE}) if perm == MANAGE else frozenset({VIEW}),
                seeding.make_service_user_id(self.seed, org_id, perm),
                f"{slug}-dashboard-{label}",
            )
            self._tokens.setdefault(org_id, {})[perm] = token

    # -- identity -----------------------------------------------------------------------

    @property
    def orgs(self) -> list[str]:
        return self.store.org_ids()

    @property
    def org_names(self) -> dict[str, str]:
        return self.store.org_names()

    @property
    def tokens(self) -> dict[str, dict[str, str]]:
        """``{org_id: {"view": token, "manage": token}}``: the token to show per org and kind."""
        return {org_id: dict(kinds) for org_id, kinds in self._tokens.items()}

    def add_token(
        self, org_id: str, token: str, perms: set[str] | frozenset[str] = frozenset({VIEW, MANAGE})
    ) -> None:
        """Accept ``token`` for ``org_id`` (created empty if unknown) with ``perms``.

        It becomes the org's listed "manage" (or "view") token; earlier tokens stay valid.
        """
        perms = frozenset(perms)
        if not perms or not perms <= {VIEW, MANAGE}:
            raise ValueError("perms must be a non-empty subset of {'view', 'manage'}")
        if MANAGE in perms:
            perms |= {VIEW}  # managing sessions implies seeing them
        if not self.store.has_org(org_id):
            self._add_org(org_id, seeding.org_name(org_id))
        kind = MANAGE if MANAGE in perms else VIEW
        self._principals[token] = Principal(
            org_id,
            perms,
            seeding.make_service_user_id(self.seed, org_id, f"extra:{token}"),
            f"{org_id.removeprefix('org-')}-{kind}-key",
        )
        self._tokens.setdefault(org_id, {})[kind] = token

    # -- sessions -----------------------------------------------------------------------

    def add_session(self, org_id: str, **fields: Any) -> dict[str, Any]:
        """Create a session (status running/working by default) and return it as GET would."""
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s): {', '.join(sorted(unknown))}")
        if not self.store.has_org(org_id):
            raise KeyError(org_id)
        now = int(time.time())
        if "session_id" in fields:
            session_id = canonical_session_id(str(fields["session_id"]))
        else:
            with self._rng_lock:
                session_id = f"devin-{self._rng.getrandbits(128):032x}"
        session: dict[str, Any] = {
            "session_id": session_id,
            "url": f"https://app.devin.ai/sessions/{session_id.removeprefix('devin-')}",
            "status": "running",
            "status_detail": "working",
            "title": "New session",
            "tags": [],
            "org_id": org_id,
            "created_at": now,
            "updated_at": now,
            "acus_consumed": 0.0,
            "pull_requests": [],
            "is_archived": False,
            "category": None,
            "subcategory": None,
            "origin": "api",
            "parent_session_id": None,
            "child_session_ids": None,
            "user_id": None,
            "service_user_id": None,
            "playbook_id": None,
            "automation_id": None,
            "devin_mode": "normal",
            "structured_output": None,
        }
        session.update(fields)
        session["session_id"] = session_id
        session["org_id"] = org_id
        if "updated_at" not in fields:
            session["updated_at"] = max(session["updated_at"], session["created_at"])
        self.store.add(org_id, session)
        return self.get(org_id, session_id) or {}

    def update_session(self, org_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
        """Change stored fields (e.g. ``status_detail="finished"``); bumps ``updated_at``."""
        if self.store.get(org_id, session_id) is None:
            raise KeyError(f"{org_id}/{session_id}")
        return _copy(self.store.update(org_id, session_id, fields))

    def get(self, org_id: str, session_id: str) -> dict[str, Any] | None:
        """The stored session, as GET returns it (a copy), or None."""
        session = self.store.get(org_id, session_id)
        return None if session is None else _copy(session)

    def sessions(self, org_id: str) -> list[dict[str, Any]]:
        """Every session of an org in list order (copies)."""
        return self.store.all_sessions(org_id)

    # -- faults -------------------------------------------------------------------------

    def inject(self, kind: str, count: int | None = 1, **options: Any) -> Fault:
        """Break the next ``count`` matching API calls; see ``faults`` for kinds and options."""
        fault = Fault.build(kind, count, **options)
        self._faults.add(fault)
        return fault

    def clear_faults(self) -> int:
        return self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.pending()

    # -- stats --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        with self._stats_lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._stats_lock:
            return self._peak_in_flight

    @property
    def calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every API call since the last reset, oldest first."""
        with self._stats_lock:
            return list(self._calls)

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._peak_in_flight = self._in_flight
            self._calls.clear()

    def stats(self) -> dict[str, int]:
        with self._stats_lock:
            return {
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "calls": len(self._calls),
            }

    def _enter(self, method: str, path: str) -> None:
        with self._stats_lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._calls.append((method, path))

    def _leave(self) -> None:
        with self._stats_lock:
            self._in_flight -= 1

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeDevin:
        """Serve in a background daemon thread; ``port=0`` picks a free port.

        Calling it on a running fake does nothing, so ``with FakeDevin() as fake:
        fake.start()`` is fine.
        """
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(host, port, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"fakedevin:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: interrupts latency and hangs, closes kept-alive connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins the connection threads, now all unblocked
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeDevin is not running; call start() first")
        host = str(self._server.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.server_port}"

    def __enter__(self) -> FakeDevin:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _sleep(self, seconds: float) -> None:
        """Sleep that ``stop()`` cuts short."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._principals.get(token.strip())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, fake: FakeDevin) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall for
        # seconds on a badly configured machine; a loopback test server does not need it.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones block in a read)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing mid-request (timeouts, drop tests) are normal here.
        if isinstance(sys.exc_info()[1], OSError) and not self.fake.verbose:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeDevin/1.0"
    sys_version = ""
    # Headers and body are written separately; without TCP_NODELAY, Nagle plus delayed ACKs
    # add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            super().log_message(format, *args)

    # -- plumbing -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        if path.startswith("/v3/"):
            response = self._api_call(fake, path, split.query)
        else:
            try:
                response = self._control(fake, path, body)
            except Exception:  # a bug in the fake must not hang the client
                traceback.print_exc()
                response = problem(500, "Internal error in the fake", path)
        if response is None:
            self.close_connection = True  # drop/hang: no response at all
            return
        self._send(response)

    def _read_body(self) -> bytes:
        # Always drain the body so the next request on a kept-alive connection parses.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # client gone (e.g. it timed out)

    # -- the API ------------------------------------------------------------------------

    def _api_call(self, fake: FakeDevin, path: str, query: str) -> Response | None:
        method = self.command
        fake._enter(method, path)
        try:
            fault = fake._faults.take(method, self.path)
            delay = fake.latency
            if fault is not None and fault.kind == "latency":
                delay += fault.seconds or 0.0
            fake._sleep(delay)
            if fault is not None and fault.kind in ("drop", "hang"):
                if fault.kind == "hang":
                    fake._sleep(fault.seconds or 0.0)
                return None
            if fault is not None and fault.kind in ("status", "429"):
                assert fault.status is not None
                headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
                return problem(fault.status, "Injected fault", path, headers=headers)
            try:
                response = self._route_api(fake, method, path, query)
            except Exception:
                traceback.print_exc()
                response = problem(500, "Internal error in the fake", path)
            if fault is not None and fault.kind in BODY_FAULTS and response.status < 300:
                if fault.kind == "malformed_json":
                    response.body = malformed_json(response.body)
                else:
                    response = json_response(
                        response.status, BODY_TRANSFORMS[fault.kind](response.payload)
                    )
            return response
        finally:
            # Decrement before the response is written, so a client that has its answer
            # never observes its own call as still in flight.
            fake._leave()

    def _route_api(self, fake: FakeDevin, method: str, path: str, query: str) -> Response:
        principal = fake.authenticate(self.headers.get("Authorization"))
        allowed: tuple[str, ...]
        if _SELF.fullmatch(path):
            allowed = ("GET",)
        elif match := _ACTION.fullmatch(path):
            allowed = ("POST",)
        elif match := _SESSION.fullmatch(path):
            allowed = ("GET", "DELETE")
        elif match := _SESSIONS.fullmatch(path):
            allowed = ("GET",)
        else:
            return problem(404, "Not Found", path)
        if principal is None:
            detail = (
                "Invalid API key"
                if self.headers.get("Authorization")
                else "Missing Authorization: Bearer <token> header"
            )
            return problem(401, detail, path, headers=[("WWW-Authenticate", "Bearer")])
        if method not in allowed:
            return problem(
                405, f"Method {method} not allowed", path, headers=[("Allow", ", ".join(allowed))]
            )

        if _SELF.fullmatch(path):
            return json_response(
                200,
                {
                    "principal_type": "service_user",
                    "service_user_id": principal.service_user_id,
                    "service_user_name": principal.service_user_name,
                    "org_id": principal.org_id,
                },
            )

        assert match is not None
        org_id = unquote(match["org"])
        if org_id != principal.org_id:
            return problem(
                403, f"The service user does not have access to organization {org_id}", path
            )
        session_id = unquote(match["sid"]) if "sid" in match.groupdict() else None
        needs = MANAGE if method != "GET" else VIEW
        if needs not in principal.perms:
            return problem(
                403, f"The service user lacks the {PERMISSION_NAMES[needs]} permission", path
            )

        if session_id is None:
            try:
                page = fake.store.page(org_id, parse_list_query(query))
            except _BadParams as exc:
                return problem(422, "Invalid query parameters", path, errors=exc.errors)
            return json_response(200, page.as_json())

        if method == "GET":
            session = fake.store.get(org_id, session_id)
        elif method == "DELETE":
            archive = parse_qs(query).get("archive", ["false"])[-1].lower() in ("true", "1")
            session = fake.store.terminate(org_id, session_id, archive=archive)
        elif match["action"] == "archive":
            session = fake.store.archive(org_id, session_id)
        else:
            session = fake.store.unarchive(org_id, session_id)
        if session is None:
            return problem(404, f"Session {canonical_session_id(session_id)} not found", path)
        return json_response(200, session)

    # -- control endpoints (no auth: a test tool on loopback) ---------------------------

    def _control(self, fake: FakeDevin, path: str, body: bytes) -> Response:
        method = self.command
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return problem(400, "Body is not valid JSON", path)
        if not isinstance(data, dict):
            return problem(400, "Body must be a JSON object", path)

        if path == "/" and method == "GET":
            return json_response(200, self._index(fake))
        if path == "/_fake/faults":
            if method == "GET":
                return json_response(200, {"faults": [f.as_json() for f in fake.faults]})
            if method == "POST":
                options = {
                    k: v for k, v in data.items() if v is not None and k not in ("kind", "count")
                }
                try:
                    fault = fake.inject(data.get("kind", ""), data.get("count", 1), **options)
                except ValueError as exc:
                    return problem(422, str(exc), path)
                return json_response(201, {"fault": fault.as_json(), "pending": len(fake.faults)})
            if method == "DELETE":
                return json_response(200, {"cleared": fake.clear_faults()})
        elif path == "/_fake/stats" and method == "GET":
            return json_response(200, fake.stats())
        elif path == "/_fake/reset-stats" and method == "POST":
            fake.reset_stats()
            return json_response(200, fake.stats())
        elif path == "/_fake/tokens" and method == "GET":
            return json_response(200, fake.tokens)
        elif path == "/_fake/latency" and method == "POST":
            seconds = data.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                return problem(422, "seconds must be a non-negative number", path)
            fake.latency = float(seconds)
            return json_response(200, {"latency": fake.latency})
        elif (match := _FAKE_SESSION.fullmatch(path)) and method == "POST":
            org_id = unquote(match["org"])
            if not fake.store.has_org(org_id):
                return problem(404, f"Unknown organization {org_id}", path)
            try:
                if match["sid"] is None:
                    return json_response(201, fake.add_session(org_id, **data))
                session_id = unquote(match["sid"])
                if fake.store.get(org_id, session_id) is None:
                    return problem(404, f"Session {session_id} not found", path)
                return json_response(200, fake.update_session(org_id, session_id, **data))
            except ValueError as exc:
                return problem(422, str(exc), path)
        return problem(404, f"No control endpoint {method} {path}", path)

    @staticmethod
    def _index(fake: FakeDevin) -> dict[str, Any]:
        """What a human opening the URL in a browser sees."""
        return {
            "name": "Fake Devin API v3 (test tool; tokens are not secrets)",
            "orgs": [
                {"org_id": org_id, "name": name, "sessions": fake.store.count(org_id)}
                for org_id, name in fake.org_names.items()
            ],
            "api": [
                "GET /v3/self",
                "GET /v3/organizations/{org_id}/sessions",
                "GET /v3/organizations/{org_id}/sessions/{devin_id}",
                "DELETE /v3/organizations/{org_id}/sessions/{devin_id}?archive=bool",
                "POST /v3/organizations/{org_id}/sessions/{devin_id}/archive",
                "POST /v3/organizations/{org_id}/sessions/{devin_id}/unarchive",
            ],
            "control": [
                "GET|POST|DELETE /_fake/faults",
                "GET /_fake/stats",
                "POST /_fake/reset-stats",
                "GET /_fake/tokens",
                "POST /_fake/latency",
                "POST /_fake/sessions/{org_id}",
                "POST /_fake/sessions/{org_id}/{session_id}",
            ],
        }
