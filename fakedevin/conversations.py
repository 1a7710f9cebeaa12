"""The messages and attachments of the fake's sessions, and the message list's cursor.

A seeded session's conversation is made (by ``chat``) the first time anyone reads it, from the
session as it is then, and kept from then on: a 100k-session benchmark pays only for the
conversations it opens. Sessions added later (``FakeState.add_session``) start with none.

Order and cursor
    Messages are listed oldest first, as the spec says ("ordered chronologically"), and only
    ever appended, so a position is stable: the cursor is the position and event id of a page's
    last message, base64url-encoded so clients treat it as opaque. A cursor whose event is not
    at its position was not made here (422). ``end_cursor`` is null on the last page, so a
    client that has read everything learns of new messages by reading again.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from . import chat
from .chat import Attachment, Message
from .store import Session, canonical_session_id

Key = tuple[str, str]  # (org_id, session_id)
_RECENT = 200  # how many of an org's newest sessions the made-to-order conversations go to


@dataclass
class _Conversation:
    messages: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _encode_cursor(index: int, message: Message) -> str:
    raw = f"{index}|{message['event_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        index, event_id = raw.split("|", 1)
        return int(index), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc


class ConversationStore:
    """Thread-safe; everything it returns is a copy."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._conversations: dict[Key, _Conversation] = {}
        self._features: dict[str, dict[str, str]] = {}  # org_id -> feature -> session_id
        self._feature_of: dict[Key, str] = {}
        self._rng = random.Random(f"{seed}:new-messages")

    # -- which sessions carry the made-to-order conversations -------------------------------

    def feature(self, org_id: str, sessions: Sequence[Session]) -> None:
        """Give the newest fitting sessions of an org (among its 200 newest) the
        ``chat.FEATURES`` conversations.

        ``long`` goes to a running session (a long conversation is a long-lived session),
        ``huge`` to one that has stopped (the log came at the end), ``hostile`` to any; each
        falls back to the newest session left, so even a small org has all three.
        """
        fits: dict[str, Callable[[Session], bool]] = {
            "long": lambda s: s["status"] == "running",
            "huge": lambda s: s["status"] in ("exit", "suspended", "error"),
            "hostile": lambda s: True,
        }
        chosen: dict[str, str] = {}
        # One pass over a big org: the newest few nearly always hold a fitting session.
        recent = heapq.nsmallest(
            _RECENT, sessions, key=lambda s: (-s["created_at"], s["session_id"])
        )

        def newest(fit: Callable[[Session], bool]) -> Session | None:
            taken = set(chosen.values())
            return next((s for s in recent if s["session_id"] not in taken and fit(s)), None)

        for name, fit in fits.items():
            pick = newest(fit) or newest(fits["hostile"])
            if pick is not None:
                chosen[name] = pick["session_id"]
        with self._lock:
            self._features[org_id] = chosen
            for name, session_id in chosen.items():
                self._feature_of[(org_id, session_id)] = name

    def features(self) -> dict[str, dict[str, str]]:
        """``{org_id: {"long": session_id, "huge": ..., "hostile": ...}}``."""
        with self._lock:
            return {org_id: dict(chosen) for org_id, chosen in self._features.items()}

    def start_empty(self, org_id: str, session_id: str) -> None:
        with self._lock:
            self._conversations[(org_id, session_id)] = _Conversation()

    # -- reads ----------------------------------------------------------------------------

    def _get(self, org_id: str, session: Session) -> _Conversation:
        # Caller holds the lock.
        key = (org_id, canonical_session_id(session["session_id"]))
        conversation = self._conversations.get(key)
        if conversation is None:
            messages, attachments = chat.conversation(self.seed, session, self._feature_of.get(key))
            conversation = self._conversations[key] = _Conversation(messages, attachments)
        return conversation

    def page(self, org_id: str, session: Session, first: int, after: str | None) -> dict[str, Any]:
        """A ``PaginatedResponse[SessionMessage]``; ValueError for a cursor not made here."""
        with self._lock:
            messages = self._get(org_id, session).messages
            start = 0
            if after:
                index, event_id = _decode_cursor(after)
                if not 0 <= index < len(messages) or messages[index]["event_id"] != event_id:
                    raise ValueError("invalid cursor")
                start = index + 1
            items = messages[start : start + first]
            total = len(messages)
        has_next_page = start + len(items) < total
        end_cursor = _encode_cursor(start + len(items) - 1, items[-1]) if has_next_page else None
        # Messages are never changed once stored, so a shallow copy of the list is enough.
        return {
            "items": list(items),
            "end_cursor": end_cursor,
            "has_next_page": has_next_page,
            "total": total,
        }

    def messages(self, org_id: str, session: Session) -> list[Message]:
        """Every message, oldest first (copies)."""
        with self._lock:
            copied: list[Message] = json.loads(json.dumps(self._get(org_id, session).messages))
        return copied

    def attachments(self, org_id: str, session: Session) -> list[Attachment]:
        with self._lock:
            return [dict(item) for item in self._get(org_id, session).attachments]

    # -- writes ---------------------------------------------------------------------------

    def add(
        self,
        org_id: str,
        session: Session,
        text: str,
        *,
        source: str = "user",
        attachment_urls: Sequence[str] = (),
    ) -> Message:
        """Append a message (created now, never before the last one) and its attachments."""
        with self._lock:
            conversation = self._get(org_id, session)
            last = conversation.messages[-1]["created_at"] if conversation.messages else 0
            message: Message = {
                "event_id": f"event-{self._rng.getrandbits(96):024x}",
                "source": source,
                "message": text,
                "created_at": max(int(time.time()), last),
            }
            conversation.messages.append(message)
            for url in attachment_urls:
                name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "attachment"
                conversation.attachments.append(chat.attachment(self._rng, source, name, None, url))
            return dict(message)
