"""The body faults (``faults``' missing_fields, unknown_enum and hostile) for the bodies of a
session's parts: a page of messages, a list of attachments, ``{"tags": [...]}``.

``break_body`` tells these shapes from a session, a page of sessions and ``/v3/self`` (whose
transforms stay in ``faults``), so every body fault breaks every successful ``/v3`` answer the
way its kind promises: missing_fields fails the spec, unknown_enum sends values the spec does
not know, hostile sends what a renderer must defuse.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .chat import ATTACHMENT_HOST, HOSTILE_ATTACHMENTS, HOSTILE_MESSAGES
from .faults import BODY_TRANSFORMS

Transform = Callable[[Any], object]


def _is_message_page(payload: object) -> bool:
    items = payload.get("items") if isinstance(payload, dict) else None
    return bool(items) and isinstance(items, list) and "event_id" in items[0]


def _is_tags(payload: object) -> bool:
    return isinstance(payload, dict) and set(payload) == {"tags"}


def _messages_missing(page: dict[str, Any]) -> object:
    for message in page["items"]:
        message.pop("message", None)
        message.pop("created_at", None)
    return page


def _messages_unknown(page: dict[str, Any]) -> object:
    for message in page["items"]:
        message["source"] = "devin_subagent"
    return page


def _messages_hostile(page: dict[str, Any]) -> object:
    for index, message in enumerate(page["items"]):
        message["message"] = HOSTILE_MESSAGES[index % len(HOSTILE_MESSAGES)][1]
    return page


def _attachments_missing(items: list[dict[str, Any]]) -> object:
    for item in items:
        item.pop("url", None)
        item.pop("source", None)
    return items or [{}]


def _attachments_unknown(items: list[dict[str, Any]]) -> object:
    for item in items:
        item["source"] = "slack_bot"
    return items


def _attachments_hostile(items: list[dict[str, Any]]) -> object:
    hostile = [
        {
            "attachment_id": f"attachment-{n}",
            "name": name,
            "url": url,
            "source": source,
            "content_type": content_type,
        }
        for n, (source, name, content_type, url) in enumerate(HOSTILE_ATTACHMENTS)
    ]
    return items + hostile + [{**hostile[0], "url": f"{ATTACHMENT_HOST}/{'a' * 5_000}"}]


def _tags_missing(body: dict[str, Any]) -> object:
    return {}


def _tags_hostile(body: dict[str, Any]) -> object:
    return {
        "tags": ["<script>alert(1)</script>", '"><svg onload=alert(1)>', "{{ 7*7 }}", "t" * 2_000]
    }


_PART_TRANSFORMS: dict[tuple[str, str], Transform] = {
    ("messages", "missing_fields"): _messages_missing,
    ("messages", "unknown_enum"): _messages_unknown,
    ("messages", "hostile"): _messages_hostile,
    ("attachments", "missing_fields"): _attachments_missing,
    ("attachments", "unknown_enum"): _attachments_unknown,
    ("attachments", "hostile"): _attachments_hostile,
    ("tags", "missing_fields"): _tags_missing,
    ("tags", "hostile"): _tags_hostile,
}


def break_body(kind: str, payload: object) -> object:
    """``payload`` broken as the body fault ``kind`` says (a deep copy; the original is kept)."""
    if isinstance(payload, list):
        shape = "attachments"
    elif _is_message_page(payload):
        shape = "messages"
    elif _is_tags(payload):
        shape = "tags"
    else:
        return BODY_TRANSFORMS[kind](payload)
    transform = _PART_TRANSFORMS.get((shape, kind))
    # Tags have no enum: unknown_enum leaves them as they are.
    return payload if transform is None else transform(copy.deepcopy(payload))
