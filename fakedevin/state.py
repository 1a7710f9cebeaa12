"""What the fake Devin API knows, apart from HTTP: orgs, tokens, sessions, faults and call stats.

``FakeState`` is everything ``routes`` reads and changes; ``server.FakeDevin`` adds the HTTP
server around it. Sessions live in a ``store.SessionStore``; what leaves this module is a copy,
so a caller can never change the fake's data behind its back.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import seed as seeding
from .chat import Attachment, Message
from .conversations import ConversationStore
from .faults import Fault, FaultBook
from .store import SESSION_FIELDS, Session, SessionStore, canonical_session_id

VIEW = "view"
MANAGE = "manage"


@dataclass(frozen=True)
class Principal:
    """The service user behind a token."""

    org_id: str
    perms: frozenset[str]
    service_user_id: str
    service_user_name: str


def _copy(session: Session) -> Session:
    """A deep copy, exactly as a client would decode it."""
    copied: Session = json.loads(json.dumps(session))
    return copied


def _new_session(org_id: str, session_id: str, now: int) -> Session:
    """The fields of a session made through ``add_session``, before the caller's own."""
    return {
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


class CallStats:
    """API calls in flight, their peak, and every call since the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._calls: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def track(self, method: str, path: str) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._calls.append((method, path))
        try:
            yield
        finally:
            # Leaves before the response is written, so a client that has its answer never
            # observes its own call as still in flight.
            with self._lock:
                self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak_in_flight

    @property
    def calls(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._peak_in_flight = self._in_flight
            self._calls.clear()

    def as_json(self) -> dict[str, int]:
        with self._lock:
            return {
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "calls": len(self._calls),
            }


class FakeState:
    """Orgs with their tokens and seeded sessions, pending faults and call stats."""

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
        self.conversations = ConversationStore(seed)
        self.call_stats = CallStats()
        self._faults = FaultBook()
        self._principals: dict[str, Principal] = {}
        self._tokens: dict[str, dict[str, str]] = {}
        self._rng_lock = threading.Lock()
        self._rng = random.Random(f"{seed}:added-sessions")
        self._stopping = threading.Event()

        if orgs is None:
            orgs = seeding.DEMO_ORGS
        names = dict(orgs) if isinstance(orgs, Mapping) else {o: seeding.org_name(o) for o in orgs}
        for org_id, name in names.items():
            sessions = seeding.generate_sessions(org_id, sessions_per_org, seed=seed, now=self.now)
            self._add_org(org_id, name, sessions)

    def _add_org(self, org_id: str, name: str, sessions: Sequence[Session] = ()) -> None:
        self.store.add_org(org_id, name, sessions)
        self.conversations.feature(org_id, sessions)
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

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._principals.get(token.strip())

    # -- sessions -----------------------------------------------------------------------

    def add_session(self, org_id: str, **fields: Any) -> Session:
        """Create a session (status running/working by default) and return it as GET would."""
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s): {', '.join(sorted(unknown))}")
        if not self.store.has_org(org_id):
            raise KeyError(org_id)
        if "session_id" in fields:
            session_id = canonical_session_id(str(fields["session_id"]))
        else:
            with self._rng_lock:
                session_id = f"devin-{self._rng.getrandbits(128):032x}"
        session = _new_session(org_id, session_id, int(time.time()))
        session.update(fields)
        session["session_id"] = session_id
        session["org_id"] = org_id
        if "updated_at" not in fields:
            session["updated_at"] = max(session["updated_at"], session["created_at"])
        self.store.add(org_id, session)
        self.conversations.start_empty(org_id, session_id)
        return self.get(org_id, session_id) or {}

    def update_session(self, org_id: str, session_id: str, **fields: Any) -> Session:
        """Change stored fields (e.g. ``status_detail="finished"``); bumps ``updated_at``."""
        if self.store.get(org_id, session_id) is None:
            raise KeyError(f"{org_id}/{session_id}")
        return _copy(self.store.update(org_id, session_id, fields))

    def get(self, org_id: str, session_id: str) -> Session | None:
        """The stored session, as GET returns it (a copy), or None."""
        session = self.store.get(org_id, session_id)
        return None if session is None else _copy(session)

    def sessions(self, org_id: str) -> list[Session]:
        """Every session of an org in list order (copies)."""
        return self.store.all_sessions(org_id)

    # -- conversations ------------------------------------------------------------------

    @property
    def featured(self) -> dict[str, dict[str, str]]:
        """``{org_id: {"long": id, "huge": id, "hostile": id}}``: the sessions whose
        conversations are made to order (2,000 messages; a 1 MiB message; hostile text)."""
        return self.conversations.features()

    def messages(self, org_id: str, session_id: str) -> list[Message]:
        """Every message of a session, oldest first (copies). KeyError if unknown."""
        return self.conversations.messages(org_id, self._session(org_id, session_id))

    def attachments(self, org_id: str, session_id: str) -> list[Attachment]:
        return self.conversations.attachments(org_id, self._session(org_id, session_id))

    def add_message(
        self, org_id: str, session_id: str, text: str, source: str = "devin"
    ) -> Message:
        """Append a message as if it were said now, e.g. Devin's answer; the session's status
        stays as it is (``update_session`` changes it). KeyError if unknown."""
        if source not in ("devin", "user"):
            raise ValueError("source must be 'devin' or 'user'")
        message = self.conversations.add(
            org_id, self._session(org_id, session_id), text, source=source
        )
        self.store.update(org_id, session_id, {})  # a new message is a change: bump updated_at
        return message

    def _session(self, org_id: str, session_id: str) -> Session:
        session = self.store.get(org_id, session_id) if self.store.has_org(org_id) else None
        if session is None:
            raise KeyError(f"{org_id}/{session_id}")
        return session

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

    def take_fault(self, method: str, target: str) -> Fault | None:
        """The fault for this API call, consuming one use of it, or None."""
        return self._faults.take(method, target)

    # -- stats --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.call_stats.in_flight

    @property
    def peak_in_flight(self) -> int:
        return self.call_stats.peak_in_flight

    @property
    def calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every API call since the last reset, oldest first."""
        return self.call_stats.calls

    def reset_stats(self) -> None:
        self.call_stats.reset()

    def stats(self) -> dict[str, int]:
        return self.call_stats.as_json()

    # -- time ---------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep that stopping the server cuts short."""
        if seconds > 0:
            self._stopping.wait(seconds)
