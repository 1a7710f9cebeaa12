"""A session's conversation, attachments and tags as typed objects, and their parsing.

The contract is the vendored spec's SessionMessage, PaginatedResponse[SessionMessage],
SessionAttachment and SessionTagsResponse. A conversation is read page by page to be shown, so
one message that cannot be read must not hide the others: a page's items are parsed one by one,
and an unreadable one is skipped and counted (`skipped`). The envelope itself is strict, as for
the sessions list: a wrong `has_next_page` or `end_cursor` would stop paging or loop.

All text is untrusted (a message is markdown written by a person or by Devin; a name or URL can
be anything): escape it when rendering, and link a URL only if it is http(s). NUL characters in
text become U+FFFD, which is what a browser shows for them anyway and what PostgreSQL can store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Final

from dashboard.devin.errors import BadResponse
from dashboard.devin.schema import (
    _bad,
    _json_kind,
    _object,
    _opt_str,
    _present,
    _str,
    _str_list,
    _timestamp,
)

MESSAGES_PAGE_MAX: Final = 200  # the spec's maximum for `first`
MESSAGES_PAGE_DEFAULT: Final = 100  # and its default
TAGS_MAX: Final = 50  # SessionTagsUpdateRequest.tags maxItems


@dataclass(frozen=True, kw_only=True)
class Message:
    """One SessionMessage. `source` is who wrote it: "user" or "devin" (another value is kept as
    sent). `text` is the spec's `message`: markdown, untrusted."""

    event_id: str
    source: str
    text: str
    created_at: datetime

    @property
    def from_devin(self) -> bool:
        return self.source == "devin"


@dataclass(frozen=True)
class MessagePage:
    """One page of GET …/messages, oldest first. Pass `end_cursor` as `after` for the next (newer)
    page; it is None on the last page. `skipped` counts items that could not be read.

    The envelope is read at once; the items when first asked for (`items`, `skipped`): the walk
    to the end of a long conversation only follows the cursors of most pages, and reading their
    messages was a third of a first open's server time. `on_skipped` hears of unreadable items
    when they are read."""

    raw_items: list[object] = field(repr=False, compare=False)
    end_cursor: str | None
    has_next_page: bool
    total: int | None = None
    on_skipped: Callable[[int], None] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _read(self) -> tuple[list[Message], int]:
        items, skipped = _each(self.raw_items, _parse_message, "messages")
        if skipped and self.on_skipped is not None:
            self.on_skipped(skipped)
        return items, skipped

    @property
    def items(self) -> list[Message]:
        return self._read[0]

    @property
    def skipped(self) -> int:
        return self._read[1]


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """One SessionAttachment. `url` is untrusted: link it only if it is http(s). `source` is
    "user" or "devin" (another value is kept as sent)."""

    attachment_id: str
    name: str
    url: str
    source: str
    content_type: str | None = None


@dataclass(frozen=True)
class AttachmentList:
    """GET …/attachments. `skipped` counts items that could not be read."""

    items: list[Attachment]
    skipped: int = 0


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def _parse_message(value: object, where: str) -> Message:
    data = _object(value, where)
    return Message(
        event_id=_str(data, "event_id", where),
        source=_str(data, "source", where),
        text=_text(_str(data, "message", where)),
        created_at=_timestamp(data, "created_at", where),
    )


def _parse_attachment(value: object, where: str) -> Attachment:
    data = _object(value, where)
    return Attachment(
        attachment_id=_str(data, "attachment_id", where),
        name=_text(_str(data, "name", where)),
        url=_str(data, "url", where),
        source=_str(data, "source", where),
        content_type=_opt_str(data, "content_type", where),
    )


def _each[T](
    items: list[object], parse: Callable[[object, str], T], where: str
) -> tuple[list[T], int]:
    """The items that parse, and how many did not."""
    parsed: list[T] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item, f"{where}[{index}]"))
        except BadResponse:
            continue  # counted below; the page is still worth showing
    return parsed, len(items) - len(parsed)


def parse_message_page(value: object) -> MessagePage:
    where = "messages page"
    data = _object(value, where)
    items = _present(data, "items", where)
    if not isinstance(items, list):
        raise _bad(f"{where}.items", f"should be a list, got {_json_kind(items)}")
    has_next_page = data.get("has_next_page", False)  # the spec's default
    if not isinstance(has_next_page, bool):
        raise _bad(
            f"{where}.has_next_page", f"should be a boolean, got {_json_kind(has_next_page)}"
        )
    end_cursor = _opt_str(data, "end_cursor", where)
    total = data.get("total")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
        raise _bad(f"{where}.total", f"should be an integer or null, got {_json_kind(total)}")
    return MessagePage(items, end_cursor, has_next_page, total)


def parse_attachments(value: object) -> AttachmentList:
    if not isinstance(value, list):
        raise _bad("attachments", f"should be a list, got {_json_kind(value)}")
    attachments, skipped = _each(value, _parse_attachment, "attachments")
    return AttachmentList(attachments, skipped)


def parse_tags(value: object) -> tuple[str, ...]:
    """SessionTagsResponse. Strict: tags are written back, so a misread list must not be."""
    data = _object(value, "tags answer")
    return _str_list(_present(data, "tags", "tags answer"), "tags answer.tags")
