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

from dashboard import devin
from dashboard.devin.conversation import MESSAGES_PAGE_MAX

SHOWN: Final = 50  # messages per window: the newest first, then older ones on demand
# A conversation longer than this (in pages) is shown from where the walk stopped.
MAX_PAGES: Final = 200
# Cursors carried by an "older" link, at most (a longer conversation stops offering older).
MAX_STARTS: Final = 200
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


def newest(client: devin.DevinClient, session_id: str, deadline: float) -> Window:
    """The newest SHOWN messages: walk the conversation to its end."""
    starts: list[str] = []
    pages: list[devin.MessagePage] = []
    after = ""
    skipped = 0
    for _ in range(MAX_PAGES):
        page = client.list_messages(session_id, after or None, MESSAGES_PAGE_MAX, deadline=deadline)
        skipped += page.skipped
        starts.append(after)
        pages.append(page)
        if not page.has_next_page or not page.end_cursor or page.end_cursor == after:
            break
        after = page.end_cursor
    # The last two pages hold the newest SHOWN (a page has MESSAGES_PAGE_MAX >= SHOWN).
    tail = [(i, m) for i in (len(pages) - 2, len(pages) - 1) if i >= 0 for m in pages[i].items]
    first = pages[0].items[0] if pages[0].items else None
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
