"""Fault injection for the fake Devin API.

A fault applies to the next ``count`` API calls (``/v3/...`` only) that match its optional
``method`` and ``path`` filters (``path`` is a substring of the request target, query string
included), so a test can fail archives while reads keep working. ``count=None`` keeps it
until cleared. When several faults match, the oldest wins; one call consumes one fault.

Kinds
    ``latency``         wait ``seconds`` (default 1) more, then answer normally.
    ``status``          answer ``status`` (default 500) as problem+json; ``retry_after`` adds
                        a ``Retry-After`` header.
    ``429``             ``status`` with 429; with or without ``retry_after``.
    ``malformed_json``  200-style answer whose body is truncated JSON.
    ``missing_fields``  the normal body without required fields (fails the spec).
    ``unknown_enum``    enum-typed fields (status, status_detail, category, origin,
                        devin_mode, pr_state) carry values the spec does not know.
    ``hostile``         script tags in titles/tags, ``javascript:``/``data:`` URLs, very long
                        strings: everything a renderer must escape or refuse to link.
    ``long_strings``    every text field of every session 10 kB long (the spec bounds none),
                        and a NUL character in each title.
    ``odd_ids``         session ids of odd but valid shapes: spaces, slashes, ``?#%``, non-ASCII,
                        no ``devin-`` prefix (any non-empty string is an id).
    ``odd_times``       created_at/updated_at of 0, negative, fractional and millisecond values.
    ``bad_item``        the middle session of a page (or the one session) fails validation:
                        its ``created_at`` is a string. The rest of a page is fine.
    ``other_session``   the answer is about another session than the one asked for (another
                        id, same org): for the checks of an action's answer.
    ``other_org``       the same, and the session is another org's.
    ``unreadable_body`` a 200 whose body is not UTF-8, let alone JSON: an answer that came back
                        but cannot be read.
    ``drop``            close the connection without answering.
    ``hang``            answer nothing for ``seconds`` (default and maximum 30, cut short by
                        ``stop()``), then close the connection: a client without a timeout hangs.

The body faults (every kind but latency, status, 429, drop and hang) only change successful
responses; errors pass through unchanged.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = (
    "latency",
    "status",
    "429",
    "malformed_json",
    "missing_fields",
    "unknown_enum",
    "hostile",
    "long_strings",
    "odd_ids",
    "odd_times",
    "bad_item",
    "other_session",
    "other_org",
    "unreadable_body",
    "drop",
    "hang",
)
# Every kind but these rewrites the body of a successful answer.
BODY_FAULTS = frozenset(FAULT_KINDS) - {"latency", "status", "429", "drop", "hang"}
MAX_HANG_SECONDS = 30.0


@dataclass
class Fault:
    kind: str
    count: int | None = 1
    method: str | None = None
    path: str | None = None
    status: int | None = None
    retry_after: str | None = None
    seconds: float | None = None

    @classmethod
    def build(cls, kind: str, count: int | None = 1, **options: Any) -> Fault:
        """Validate and normalise options of any type, as sent over HTTP or the command line.

        ValueError explains what is wrong (shown to HTTP callers).
        """
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        unknown = set(options) - {"method", "path", "status", "retry_after", "seconds"}
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or null (until cleared)")
        method = options.get("method")
        status = options.get("status")
        retry_after = options.get("retry_after")
        seconds = options.get("seconds")
        if kind == "429":
            status = 429
        elif kind == "status":
            status = 500 if status is None else status
        if status is not None and (
            not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599
        ):
            raise ValueError("status must be an HTTP error status (400..599)")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("seconds must be a non-negative number")
            seconds = float(seconds)
        if kind == "latency" and seconds is None:
            seconds = 1.0
        if kind == "hang":
            seconds = min(MAX_HANG_SECONDS if seconds is None else seconds, MAX_HANG_SECONDS)
        return cls(
            kind=kind,
            count=count,
            method=str(method).upper() if method else None,
            path=str(options["path"]) if options.get("path") else None,
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            seconds=seconds,
        )

    def matches(self, method: str, target: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in target
        )

    def options(self) -> dict[str, str | int | float]:
        """The options that were set, as ``build``/``inject`` take them."""
        options = asdict(self)
        del options["kind"], options["count"]
        return {name: value for name, value in options.items() if value is not None}

    def as_json(self) -> dict[str, object]:
        return asdict(self)


class FaultBook:
    """The pending faults; ``take`` is atomic so parallel calls never share a count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> int:
        with self._lock:
            cleared = len(self._faults)
            self._faults.clear()
            return cleared

    def pending(self) -> list[Fault]:
        with self._lock:
            return [copy.copy(fault) for fault in self._faults]

    def take(self, method: str, target: str) -> Fault | None:
        """The fault for this call, consuming one use of it, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return copy.copy(fault)
        return None


# -- body transforms: each takes a decoded successful body and returns the broken one ----


def _sessions_in(payload: object) -> list[dict[str, Any]]:
    """The session objects inside a response body (a session, or a page of them)."""
    if isinstance(payload, dict) and isinstance(payload.get("items"), list):
        return [item for item in payload["items"] if isinstance(item, dict)]
    if isinstance(payload, dict) and "session_id" in payload:
        return [payload]
    return []


def missing_fields(payload: object) -> object:
    payload = copy.deepcopy(payload)
    sessions = _sessions_in(payload)
    for session in sessions:
        for name in ("status", "updated_at", "url"):
            session.pop(name, None)
    if not sessions and isinstance(payload, dict):
        payload.pop("principal_type", None)  # /v3/self
        payload.pop("items", None)  # an empty page
    return payload


_UNKNOWN = {
    "status": "hibernating",
    "status_detail": "waiting_for_ci",
    "category": "vibe_coding",
    "origin": "carrier_pigeon",
    "devin_mode": "turbo",
}


def unknown_enum(payload: object) -> object:
    payload = copy.deepcopy(payload)
    for session in _sessions_in(payload):
        session.update(_UNKNOWN)
        session["pull_requests"] = [
            *session["pull_requests"],
            {"pr_url": "https://github.com/acme/web-app/pull/1", "pr_state": "superseded"},
        ]
    return payload


_LONG = "A" * 10_000


def hostile(payload: object) -> object:
    payload = copy.deepcopy(payload)
    for index, session in enumerate(_sessions_in(payload)):
        session["title"] = (
            '<script>alert("title")</script><img src=x onerror=alert(1)> "quoted" & ' + _LONG
        )
        session["tags"] = [
            "<script>alert(1)</script>",
            '"><svg onload=alert(1)>',
            "{{ 7*7 }}",
            "t" * 2_000,
        ]
        session["url"] = (
            "javascript:alert(document.cookie)"
            if index % 2 == 0
            else "data:text/html,<script>alert(1)</script>"
        )
        session["subcategory"] = "<b>bold</b><iframe src=//evil.example>"
        session["pull_requests"] = [
            {"pr_url": "javascript:alert(1)", "pr_state": "open"},
            {
                "pr_url": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                "pr_state": "<b>x</b>",
            },
            {
                "pr_url": 'https://github.com/acme/web-app/pull/1"><script>alert(1)</script>',
                "pr_state": None,
            },
        ]
        session["structured_output"] = {"<script>": "</script>", "note": _LONG}
    return payload


# The SessionResponse fields that are text (or lists of text), besides the ids.
_TEXT_FIELDS = (
    "url",
    "status",
    "status_detail",
    "title",
    "category",
    "subcategory",
    "origin",
    "user_id",
    "service_user_id",
    "playbook_id",
    "automation_id",
    "devin_mode",
)
LONG_TEXT_LENGTH = 10_000


def _long(name: str) -> str:
    # Not one repeated character: PostgreSQL compresses that to nothing in an index row.
    words = f"{name} ünïcödé 🚀 "
    return (words * (LONG_TEXT_LENGTH // len(words) + 1))[:LONG_TEXT_LENGTH]


def long_strings(payload: object) -> object:
    payload = copy.deepcopy(payload)
    for session in _sessions_in(payload):
        for name in _TEXT_FIELDS:
            session[name] = _long(name)
        session["title"] = "poison\u0000 " + session["title"]
        session["tags"] = [_long("tag"), "short"]
        session["pull_requests"] = [
            {"pr_url": "https://github.com/acme/web/pull/1?" + _long("pr_url"), "pr_state": state}
            for state in (_long("pr_state"), "open", _long("other_state"), "merged")
        ]
        session["structured_output"] = {_long("key"): _long("value")}
    return payload


# Odd but valid: the spec gives session ids no shape.
ODD_IDS = ("devin-a b", "devin-ä/ß?#%&=+", "no-prefix.2", "devin-" + "x" * 300, "devin-..")


def odd_ids(payload: object) -> object:
    payload = copy.deepcopy(payload)
    for index, session in enumerate(_sessions_in(payload)):
        session["session_id"] = f"{ODD_IDS[index % len(ODD_IDS)]}~{index}"
    return payload


# Integers, as the spec types them: epoch, before it, 1940, 2100, and milliseconds.
ODD_TIMES = (0, -1, -86_400 * 365 * 30, 4_102_444_800, 1_700_000_000_123)


def odd_times(payload: object) -> object:
    payload = copy.deepcopy(payload)
    for index, session in enumerate(_sessions_in(payload)):
        session["created_at"] = ODD_TIMES[index % len(ODD_TIMES)]
        session["updated_at"] = ODD_TIMES[(index + 1) % len(ODD_TIMES)]
    return payload


def bad_item(payload: object) -> object:
    payload = copy.deepcopy(payload)
    sessions = _sessions_in(payload)
    if sessions:
        sessions[len(sessions) // 2]["created_at"] = "yesterday"
    return payload


OTHER_SESSION_ID = "devin-not-the-one-asked-for"
OTHER_ORG_ID = "org-someone-else"


def other_session(payload: object, *, other_org: bool = False) -> object:
    payload = copy.deepcopy(payload)
    for session in _sessions_in(payload):
        session["session_id"] = OTHER_SESSION_ID
        if other_org:
            session["org_id"] = OTHER_ORG_ID
    return payload


BODY_TRANSFORMS = {
    "missing_fields": missing_fields,
    "unknown_enum": unknown_enum,
    "hostile": hostile,
    "long_strings": long_strings,
    "odd_ids": odd_ids,
    "odd_times": odd_times,
    "bad_item": bad_item,
    "other_session": other_session,
    "other_org": lambda payload: other_session(payload, other_org=True),
}


UNREADABLE_BODY = b"\xff\xfe\x00{\x93 not JSON \xc3\x28"


def malformed_json(body: bytes) -> bytes:
    """Cut the body in half: looks like JSON, does not parse."""
    return body[: max(1, len(body) // 2)] if len(body) > 2 else b'{"items": ['
