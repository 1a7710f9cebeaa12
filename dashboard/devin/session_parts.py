"""`SessionPartCalls`: the calls about one session's messages, tags and attachments.

A mixin of `DevinClient` (kept apart so neither grows too long); it uses the client's
`org_id` and transport, so errors, retries, timeouts and secrecy are the client's own. Reading
needs ViewOrgSessions; sending a message and changing tags need ManageOrgSessions. Each call
takes a `deadline` (a `time.monotonic` instant), as the client's other calls do. Arguments the
API would refuse raise ValueError or TypeError before any request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from dashboard.devin.conversation import (
    MESSAGES_PAGE_DEFAULT,
    MESSAGES_PAGE_MAX,
    TAGS_MAX,
    AttachmentList,
    MessagePage,
    parse_attachments,
    parse_message_page,
    parse_tags,
)
from dashboard.devin.schema import Session, canonical_session_id, parse_session, path_segment
from dashboard.devin.transport import Transport

logger = logging.getLogger(__name__)


def _tags_argument(tags: Sequence[str]) -> list[str]:
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise TypeError("tags must be a list of strings, not one string")
    if len(tags) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags at a time, not {len(tags)}")
    return list(tags)


class SessionPartCalls:
    org_id: str
    _transport: Transport

    def _skipped(self, count: int, what: str, sid: str) -> None:
        # Say so in the log: the page shows what could be read, an admin may want to know why.
        if count:
            logger.warning(
                "Devin API at %s sent %d unreadable %s for %s of %s; skipped them",
                self._transport.host,
                count,
                what,
                sid,
                self._transport.who,
            )

    def _session_path(self, session_id: str, part: str = "") -> tuple[str, str]:
        """The canonical id, and the path of the session or of one of its parts."""
        sid = canonical_session_id(session_id)
        path = f"/v3/organizations/{self.org_id}/sessions/{path_segment(sid)}"
        return sid, f"{path}/{part}" if part else path

    def list_messages(
        self,
        session_id: str,
        after: str | None = None,
        first: int = MESSAGES_PAGE_DEFAULT,
        *,
        deadline: float | None = None,
    ) -> MessagePage:
        """One page of a session's messages, oldest first; `after` is the previous page's
        `end_cursor` (the next page is newer). There is no way to start from the newest: to
        show the end of a conversation, walk it. Unreadable items are logged when the page's
        items are first read.
        """
        if isinstance(first, bool) or not isinstance(first, int):
            raise TypeError(f"first must be an int, not {first!r}")
        if not 1 <= first <= MESSAGES_PAGE_MAX:
            raise ValueError(f"first must be between 1 and {MESSAGES_PAGE_MAX}, not {first}")
        sid, path = self._session_path(session_id, "messages")
        params = [("first", str(first))]
        if after:
            params.append(("after", after))
        # Spec operation
        # handle_get_session_messages_v3_organizations__org_id__sessions__devin_id__messages_get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-session-messages
        page = self._transport.call(
            "GET",
            path,
            parse_message_page,
            operation="messages",
            session_id=sid,
            params=params,
            deadline=deadline,
        )
        # Its items are read when first asked for (see MessagePage): say so then.
        return dataclasses.replace(
            page, on_skipped=lambda count: self._skipped(count, "messages", sid)
        )

    def send_message(self, session_id: str, text: str, *, deadline: float | None = None) -> Session:
        """Send `text` to a session as the token's service user; a suspended session resumes.

        The answer has status_detail/category/subcategory/structured_output null, as an
        archive's does: re-read the session for fresh values. A session that has ended answers
        409 (Conflict). Never sent twice: a failure after sending says `maybe_applied`.
        """
        if not isinstance(text, str):
            raise TypeError("a message is a string")
        if not text.strip():
            raise ValueError("a message needs some text")
        sid, path = self._session_path(session_id, "messages")
        # Spec operation
        # handle_post_message_v3_organizations__org_id__sessions__devin_id__messages_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-sessions-messages
        return self._transport.call(
            "POST",
            path,
            parse_session,
            operation="send_message",
            session_id=sid,
            json_body={"message": text},
            deadline=deadline,
        )

    def get_tags(self, session_id: str, *, deadline: float | None = None) -> tuple[str, ...]:
        """A session's tags, as the API has them now."""
        sid, path = self._session_path(session_id, "tags")
        # Spec operation
        # handle_get_session_tags_v3_organizations__org_id__sessions__devin_id__tags_get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-session-tags
        return self._transport.call(
            "GET", path, parse_tags, operation="tags", session_id=sid, deadline=deadline
        )

    def append_tags(
        self, session_id: str, tags: Sequence[str], *, deadline: float | None = None
    ) -> tuple[str, ...]:
        """Add tags (at most 50 a call) the session does not have yet; all its tags after."""
        sid, path = self._session_path(session_id, "tags")
        body = {"tags": _tags_argument(tags)}
        # Spec operation
        # handle_append_session_tags_v3_organizations__org_id__sessions__devin_id__tags_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-session-tags
        return self._transport.call(
            "POST",
            path,
            parse_tags,
            operation="append_tags",
            session_id=sid,
            json_body=body,
            deadline=deadline,
        )

    def replace_tags(
        self, session_id: str, tags: Sequence[str], *, deadline: float | None = None
    ) -> tuple[str, ...]:
        """Make `tags` (at most 50) the session's tags; all its tags after."""
        sid, path = self._session_path(session_id, "tags")
        body = {"tags": _tags_argument(tags)}
        # Spec operation
        # handle_replace_session_tags_v3_organizations__org_id__sessions__devin_id__tags_put;
        # https://docs.devin.ai/api-reference/v3/sessions/put-organizations-session-tags
        return self._transport.call(
            "PUT",
            path,
            parse_tags,
            operation="replace_tags",
            session_id=sid,
            json_body=body,
            deadline=deadline,
        )

    def list_attachments(self, session_id: str, *, deadline: float | None = None) -> AttachmentList:
        """The files of a session's conversation (all of them: this list is not paged)."""
        sid, path = self._session_path(session_id, "attachments")
        # Spec operation
        # handle_get_session_attachments_v3_organizations__org_id__sessions__devin_id__attachments_get;  # noqa: E501
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-session-attachments
        attachments = self._transport.call(
            "GET",
            path,
            parse_attachments,
            operation="attachments",
            session_id=sid,
            deadline=deadline,
        )
        self._skipped(attachments.skipped, "attachments", sid)
        return attachments
