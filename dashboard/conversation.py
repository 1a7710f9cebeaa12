"""A session's conversation as the session page shows it: the newest messages, older on demand.

Devin pages a conversation oldest first and only forwards (`after` a cursor), so the newest
messages are found by walking it in pages of MESSAGES_PAGE_MAX. The walk remembers where each
page starts (the cursor before it): the "older" link carries those starts and the id of the
oldest message shown, so loading older messages is one call (two when the oldest shown opened
its page), not a new walk. Nothing is stored: the conversation is read when a person asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from django.core.cache import cache

from dashboard import devin
from dashboard.devin.conversation import MESSAGES_PAGE_MAX

SHOWN: Final = 50  # messages per window: the newest first, then older ones on demand
# A conversation longer than this (in pages) is shown from where the walk stopped.
MAX_PAGES: Final = 200
# Cursors carried by an "older" link, at most (a longer conversation stops offering older).
MAX_STARTS: Final = 200
# How long where a conversation's pages start is remembered (a hint: see `newest`).
HINT_SECONDS: Final = 3600
# A message longer than this (characters) is shown collapsed.
LONG_MESSAGE: Final = 2_000


@dataclass(frozen=True)
class Window:
    """Messages to show, oldest first, and how to ask for the ones before them."""

    messages: list[devin.Message]
    # Page starts up to the one holding messages[0] ("" is the conversation's start).
    starts: list[str] = field(default_factory=list)
    has_older: bool = False
    skipped: int = 0

    @property
    def before(self) -> str:
        return self.messages[0].event_id if self.messages else ""


def _hint_key(client: devin.DevinClient, session_id: str) -> str:
    return f"conversation-starts:{client.org_id}:{session_id}"


def newest(client: devin.DevinClient, session_id: str, deadline: float) -> Window:
    """The newest SHOWN messages: walk the conversation to its end.

    A conversation only grows, so where its pages started last time still holds: the walk
    resumes from the last two of those (remembered in the cache, a hint only) instead of
    from the start. If Devin refuses a remembered cursor, the walk starts over.
    """
    key = _hint_key(client, session_id)
    known: list[str] = cache.get(key) or []
    if len(known) > 2:
        try:
            window = _walk(client, session_id, deadline, known[:-2])
        except devin.DevinError as exc:
            if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429:
                raise
            cache.delete(key)  # a 4xx about the cursor: forget it, walk from the start
        else:
            return window
    return _walk(client, session_id, deadline, [])


def _walk(client: devin.DevinClient, session_id: str, deadline: float, known: list[str]) -> Window:
    """Walk from the last of `known` page starts (from the start if none) to the end."""
    starts: list[str] = list(known[:-1])
    pages: list[devin.MessagePage | None] = [None] * len(starts)
    after = known[-1] if known else ""
    for _ in range(MAX_PAGES):
        page = client.list_messages(session_id, after or None, MESSAGES_PAGE_MAX, deadline=deadline)
        starts.append(after)
        pages.append(page)
        if not page.has_next_page or not page.end_cursor or page.end_cursor == after:
            break
        after = page.end_cursor
    cache.set(_hint_key(client, session_id), starts[:MAX_STARTS], HINT_SECONDS)
    # The last two pages hold the newest SHOWN (a page has MESSAGES_PAGE_MAX >= SHOWN); only
    # their messages are read (MessagePage reads items when asked), and only theirs counted.
    held = [
        (i, p) for i in range(max(len(pages) - 2, 0), len(pages)) if (p := pages[i]) is not None
    ]
    tail = [(i, m) for i, page in held for m in page.items]
    if len(tail) < SHOWN and known:
        return _walk(client, session_id, deadline, [])  # fewer than hoped: read it all
    skipped = sum(page.skipped for _, page in held)
    # The conversation's first message, if the tail holds it (else some are older anyway).
    first_page = pages[0] if len(pages) <= 2 else None
    first = first_page.items[0] if first_page is not None and first_page.items else None
    return _window(tail[-SHOWN:], starts, skipped, first)


def older(
    client: devin.DevinClient, session_id: str, starts: list[str], before: str, deadline: float
) -> Window:
    """The SHOWN messages before `before`, read from the page that starts at starts[-1]."""
    starts = list(starts)
    skipped = 0
    while starts:
        page = client.list_messages(
            session_id, starts[-1] or None, MESSAGES_PAGE_MAX, deadline=deadline
        )
        skipped += page.skipped
        ids = [m.event_id for m in page.items]
        # If `before` is gone from its page (the conversation changed), show the page whole.
        cut = ids.index(before) if before in ids else len(ids)
        earlier = [(len(starts) - 1, m) for m in page.items[:cut]]
        if earlier:
            first = page.items[0] if len(starts) == 1 else None
            return _window(earlier[-SHOWN:], starts, skipped, first)
        starts.pop()  # `before` opened its page: the older ones are on the page before
    return Window([], [], False, skipped)


def _window(
    shown: list[tuple[int, devin.Message]], starts: list[str], skipped: int, first: object
) -> Window:
    """`shown` as (page index, message); `first` is the conversation's first message."""
    if not shown:
        return Window([], [], False, skipped)
    page = shown[0][0]
    kept = starts[: page + 1]
    has_older = shown[0][1] is not first and len(kept) <= MAX_STARTS
    return Window([m for _, m in shown], kept, has_older, skipped)


_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Part:
    """A piece of a message: prose (escaped, http(s) links made links) or a code block."""

    text: str
    code: bool


def parts(text: str) -> list[Part]:
    """Split markdown into prose and fenced code blocks (kept as code, never interpreted)."""
    out: list[Part] = []
    at = 0
    for match in _FENCE.finditer(text):
        if match.start() > at:
            out.append(Part(text[at : match.start()], code=False))
        out.append(Part(match.group(1), code=True))
        at = match.end()
    if at < len(text):
        out.append(Part(text[at:], code=False))
    return out
