"""Thread-safe session storage, listing and actions of the fake Devin API.

Ordering and cursor
    A list is ordered by ``(created_at desc, session_id asc)``. ``created_at`` never changes,
    so this order is stable while sessions are updated, and a keyset cursor (the key of the
    last item on the page, base64url-encoded so clients treat it as opaque) resumes exactly
    after that item: a walk visits every session that existed when it started exactly once,
    however often sessions are updated between pages. Sessions created during a walk sort
    before the cursor and are picked up by the next sync, which is how the real API behaves
    for a newest-first list. Each org keeps its keys in a sorted list; the cursor and the
    ``created_*`` filters are binary searches, the other filters a scan from there. With
    ``updated_after``, the scan is of the sessions updated since (a second list, by update time),
    so an incremental sync's pages cost what they hold, not the whole org.

Filters (flat query params, arrays as repeated keys)
    ``created_after``/``updated_after`` are inclusive (``>=``), ``created_before``/
    ``updated_before`` exclusive (``<``): adjacent windows partition time without overlap or
    gaps. ``tags`` and ``origins`` match sessions having any of the values; ``session_ids``
    accepts ids with or without the ``devin-`` prefix. ``is_archived`` absent lists both.

Actions
    Archive sets ``is_archived`` and puts an active session (new, claimed, running, resuming)
    to sleep: status ``suspended``, status_detail ``user_request``. Unarchive clears
    ``is_archived`` and leaves the status alone (the session stays suspended until someone
    messages it). Terminate (DELETE) ends the session: status ``exit``, optionally archived.
    Every change bumps ``updated_at``.

Records are never mutated in place: an update stores a new dict. Readers can therefore take
references under the lock and encode them outside it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .seed import ACTIVE_STATUSES

Session = dict[str, Any]  # a SessionResponse as decoded JSON
Key = tuple[int, str]  # (-created_at, session_id): ascending order = newest first

SESSION_FIELDS = (
    "session_id",
    "url",
    "status",
    "status_detail",
    "title",
    "tags",
    "org_id",
    "created_at",
    "updated_at",
    "acus_consumed",
    "pull_requests",
    "is_archived",
    "category",
    "subcategory",
    "origin",
    "parent_session_id",
    "child_session_ids",
    "user_id",
    "service_user_id",
    "playbook_id",
    "automation_id",
    "devin_mode",
    "structured_output",
)
# The real API only fills these on get/list; action responses carry them as null.
ACTION_NULLED_FIELDS = ("status_detail", "category", "subcategory", "structured_output")


def action_answer(session: Session) -> Session:
    """The session as an action's response shows it: the get/list-only fields null."""
    return {**session, **dict.fromkeys(ACTION_NULLED_FIELDS)}


def canonical_session_id(session_id: str) -> str:
    """Path ids come as ``devin-<hex>`` or bare ``<hex>``; storage uses the prefixed form."""
    return session_id if session_id.startswith("devin-") else f"devin-{session_id}"


def encode_cursor(session: Session) -> str:
    raw = f"{session['created_at']}|{session['session_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key to resume after; ValueError if the cursor was not made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, session_id = raw.split("|", 1)
        return (-int(created_at), session_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc


@dataclass(frozen=True)
class Query:
    """A validated list request; see the module docstring for the filter semantics."""

    first: int = 100
    after: Key | None = None
    created_after: int | None = None
    created_before: int | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    is_archived: bool | None = None
    session_ids: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    origins: frozenset[str] | None = None
    category: str | None = None

    def filter_key(self) -> tuple[object, ...]:
        """Everything that decides which sessions match (not which page): the total's key."""
        return (
            self.created_after,
            self.created_before,
            self.updated_after,
            self.updated_before,
            self.is_archived,
            self.session_ids,
            self.tags,
            self.origins,
            self.category,
        )

    def predicate(self) -> Callable[[Session], bool] | None:
        """The per-session test for filters that binary search cannot do; None if none."""
        if (
            self.updated_after is None
            and self.updated_before is None
            and self.is_archived is None
            and not self.tags
            and not self.origins
            and self.category is None
        ):
            return None

        def matches(session: Session) -> bool:
            updated_at = session["updated_at"]
            return not (
                (self.is_archived is not None and session["is_archived"] is not self.is_archived)
                or (self.updated_after is not None and updated_at < self.updated_after)
                or (self.updated_before is not None and updated_at >= self.updated_before)
                or (self.tags and self.tags.isdisjoint(session["tags"]))
                or (self.origins and session["origin"] not in self.origins)
                or (self.category is not None and session["category"] != self.category)
            )

        return matches


@dataclass
class Page:
    items: list[Session]
    end_cursor: str | None
    has_next_page: bool
    total: int

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "end_cursor": self.end_cursor,
            "has_next_page": self.has_next_page,
            "total": self.total,
        }


@dataclass
class _Org:
    org_id: str
    name: str
    sessions: dict[str, Session] = field(default_factory=dict)
    keys: list[Key] = field(default_factory=list)  # sorted
    # (updated_at, session_id), sorted: what an updated_after filter reads instead of every key.
    updates: list[tuple[int, str]] = field(default_factory=list)
    version: int = 0  # bumped on every change; invalidates cached totals


def _key(session: Session) -> Key:
    return (-session["created_at"], session["session_id"])


def _update_key(session: Session) -> tuple[int, str]:
    return (session["updated_at"], session["session_id"])


def _index_created_before(keys: list[Key], timestamp: int) -> int:
    """Index of the first key whose session was created strictly before ``timestamp``."""
    return bisect.bisect_left(keys, (-timestamp + 1,))


class SessionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orgs: dict[str, _Org] = {}
        self._totals: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}

    # -- orgs ---------------------------------------------------------------------------

    def add_org(self, org_id: str, name: str, sessions: Iterable[Session] = ()) -> None:
        org = _Org(org_id, name)
        for session in sessions:
            org.sessions[session["session_id"]] = session
        org.keys = sorted(_key(s) for s in org.sessions.values())
        org.updates = sorted(_update_key(s) for s in org.sessions.values())
        with self._lock:
            self._orgs[org_id] = org

    def org_ids(self) -> list[str]:
        with self._lock:
            return list(self._orgs)

    def org_names(self) -> dict[str, str]:
        with self._lock:
            return {org_id: org.name for org_id, org in self._orgs.items()}

    def has_org(self, org_id: str) -> bool:
        with self._lock:
            return org_id in self._orgs

    def count(self, org_id: str) -> int:
        with self._lock:
            return len(self._orgs[org_id].keys)

    # -- reads --------------------------------------------------------------------------

    def get(self, org_id: str, session_id: str) -> Session | None:
        """The stored record (shared, do not mutate) or None."""
        with self._lock:
            org = self._orgs.get(org_id)
            return None if org is None else org.sessions.get(canonical_session_id(session_id))

    def all_sessions(self, org_id: str) -> list[Session]:
        """Every session of an org in list order (deep copies, safe to mutate)."""
        with self._lock:
            org = self._orgs[org_id]
            records = [org.sessions[session_id] for _, session_id in org.keys]
        # A JSON round trip is a deep copy several times faster than copy.deepcopy here.
        copied: list[Session] = json.loads(json.dumps(records))
        return copied

    def page(self, org_id: str, query: Query) -> Page:
        with self._lock:
            org = self._orgs[org_id]
            if query.session_ids is not None:
                wanted = (org.sessions.get(canonical_session_id(s)) for s in query.session_ids)
                keys = sorted(_key(s) for s in wanted if s is not None)
            elif query.updated_after is not None:
                # An incremental sync or a poll asks for the few sessions updated since: sort
                # those, rather than test every session of the org on every page.
                since = bisect.bisect_left(org.updates, (query.updated_after,))
                keys = sorted(_key(org.sessions[sid]) for _, sid in org.updates[since:])
            else:
                keys = org.keys
            begin = 0
            if query.created_before is not None:
                begin = _index_created_before(keys, query.created_before)
            end = len(keys)
            if query.created_after is not None:
                end = _index_created_before(keys, query.created_after)
            start = begin
            if query.after is not None:
                start = max(begin, bisect.bisect_right(keys, query.after))

            matches = query.predicate()
            wanted_count = query.first + 1  # one extra tells whether there is a next page
            if matches is None:
                items = [
                    org.sessions[sid] for _, sid in keys[start : min(end, start + wanted_count)]
                ]
                total = max(0, end - begin)
            else:
                items = []
                for index in range(start, end):
                    session = org.sessions[keys[index][1]]
                    if matches(session):
                        items.append(session)
                        if len(items) == wanted_count:
                            break
                total = self._total(org, query, keys, begin, end, matches)

        has_next_page = len(items) > query.first
        del items[query.first :]
        end_cursor = encode_cursor(items[-1]) if has_next_page else None
        return Page(items, end_cursor, has_next_page, total)

    def _total(
        self,
        org: _Org,
        query: Query,
        keys: list[Key],
        begin: int,
        end: int,
        matches: Callable[[Session], bool],
    ) -> int:
        # Counting needs a full scan; a paginated walk repeats the same filters on every page,
        # so cache per (org, filters) until the org changes.
        cache_key = (org.org_id, query.filter_key())
        cached = self._totals.get(cache_key)
        if cached is not None and cached[0] == org.version:
            return cached[1]
        sessions = org.sessions
        total = sum(1 for index in range(begin, end) if matches(sessions[keys[index][1]]))
        if len(self._totals) > 256:
            self._totals.clear()
        self._totals[cache_key] = (org.version, total)
        return total

    # -- writes -------------------------------------------------------------------------

    def add(self, org_id: str, session: Session) -> Session:
        with self._lock:
            org = self._orgs[org_id]
            if session["session_id"] in org.sessions:
                raise ValueError(f"session {session['session_id']} already exists")
            self._store(org, session, None)
            parent = org.sessions.get(session.get("parent_session_id") or "")
            if parent is not None:
                children = [*(parent.get("child_session_ids") or ()), session["session_id"]]
                self._store(org, {**parent, "child_session_ids": children}, parent)
            return session

    def update(self, org_id: str, session_id: str, fields: Mapping[str, Any]) -> Session:
        """Apply ``fields`` and bump ``updated_at`` (unless given). KeyError if unknown."""
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s): {', '.join(sorted(unknown))}")
        if "session_id" in fields or "org_id" in fields:
            raise ValueError("session_id and org_id cannot be changed")
        with self._lock:
            return self._update(
                org_id, session_id, lambda _: dict(fields), bump="updated_at" not in fields
            )

    def archive(self, org_id: str, session_id: str) -> Session | None:
        def change(session: Session) -> dict[str, Any]:
            if session["status"] in ACTIVE_STATUSES:
                return {"is_archived": True, "status": "suspended", "status_detail": "user_request"}
            return {"is_archived": True}

        return self._action(org_id, session_id, change)

    def unarchive(self, org_id: str, session_id: str) -> Session | None:
        return self._action(org_id, session_id, lambda _: {"is_archived": False})

    def terminate(self, org_id: str, session_id: str, *, archive: bool) -> Session | None:
        def change(session: Session) -> dict[str, Any]:
            fields: dict[str, Any] = {"status": "exit", "status_detail": None}
            if archive:
                fields["is_archived"] = True
            return fields

        return self._action(org_id, session_id, change)

    def change(
        self, org_id: str, session_id: str, change: Callable[[Session], dict[str, Any]]
    ) -> Session | None:
        """Apply ``change`` (the record as it is, to the fields to set) atomically and bump
        ``updated_at``; the new record (shared, do not mutate), or None if there is no such
        session. ``change`` may raise to refuse: nothing is stored then.
        """
        with self._lock:
            if canonical_session_id(session_id) not in self._orgs[org_id].sessions:
                return None
            return self._update(org_id, session_id, change)

    def _action(
        self, org_id: str, session_id: str, change: Callable[[Session], dict[str, Any]]
    ) -> Session | None:
        """Apply an API action; returns the session as the action's response shows it."""
        session = self.change(org_id, session_id, change)
        return None if session is None else action_answer(session)

    def _update(
        self,
        org_id: str,
        session_id: str,
        change: Callable[[Session], dict[str, Any]],
        *,
        bump: bool = True,
    ) -> Session:
        # Caller holds the lock.
        org = self._orgs[org_id]
        old = org.sessions[canonical_session_id(session_id)]
        new = {**old, **change(old)}
        if bump:
            # Strictly increasing, so a client polling with updated_after always sees the change
            # even when it lands in the same second as the previous one.
            new["updated_at"] = max(int(time.time()), old["updated_at"] + 1)
        self._store(org, new, old)
        return new

    @staticmethod
    def _store(org: _Org, new: Session, old: Session | None) -> None:
        # Caller holds the lock.
        if old is None or _key(old) != _key(new):
            if old is not None:
                del org.keys[bisect.bisect_left(org.keys, _key(old))]
            bisect.insort(org.keys, _key(new))
        if old is None or _update_key(old) != _update_key(new):
            if old is not None:
                del org.updates[bisect.bisect_left(org.updates, _update_key(old))]
            bisect.insort(org.updates, _update_key(new))
        org.sessions[new["session_id"]] = new
        org.version += 1
