"""A session's messages, tags and attachments in the fake Devin API: checking each request and
changing the state it names. ``routes`` has already checked the token, the org and the
permission (reading needs ViewOrgSessions; sending and changing tags ManageOrgSessions).

``GET …/messages``     ``PaginatedResponse[SessionMessage]``, oldest first: ``first`` (1..200,
                       default 100) and ``after``; see ``conversations`` for the cursor
``POST …/messages``    ``SessionMessageCreateRequest``; appends the message (and its
                       ``attachment_urls`` as the user's attachments) and answers the session,
                       with the get/list-only fields null like every action. A suspended or
                       running session goes (back) to work: running/working. A session that
                       has ended (exit, error) cannot be resumed: 409 (*inferred*: the spec
                       says only "an active session")
``GET …/tags``         ``{"tags": [...]}``
``POST …/tags``        appends, skipping tags the session has (the spec's "deduplicating")
``PUT …/tags``         replaces, duplicates dropped; both take ``{"tags": [...]}`` (at most 50)
``GET …/attachments``  a JSON array of ``SessionAttachment``

Every change bumps the session's ``updated_at``, so list and get show it and an incremental
sync picks it up. A body the spec refuses is 422 with FastAPI-style ``errors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .query import BadParams, ParamError, cursor_error, parse_page_query
from .store import Session, action_answer, canonical_session_id

if TYPE_CHECKING:
    from .state import FakeState

PARTS: dict[str, tuple[str, ...]] = {
    "messages": ("GET", "POST"),
    "tags": ("GET", "POST", "PUT"),
    "attachments": ("GET",),
}
MAX_TAGS = 50
MAX_URL = 2083
ENDED = frozenset({"exit", "error"})


@dataclass(frozen=True)
class Answer:
    """What ``routes`` sends: ``payload`` with ``status``, or a problem with ``detail``."""

    status: int
    payload: object = None
    detail: str = ""
    errors: list[ParamError] | None = None


class _Ended(Exception):
    pass


def _error(loc: list[str | int], message: str, kind: str) -> ParamError:
    return {"loc": ["body", *loc], "msg": message, "type": kind}


def _invalid(errors: list[ParamError]) -> Answer:
    return Answer(422, detail="Invalid request body", errors=errors)


def answer(
    fake: FakeState, method: str, part: str, org_id: str, session_id: str, query: str, body: bytes
) -> Answer:
    session = fake.store.get(org_id, session_id)
    if session is None:
        return Answer(404, detail=f"Session {canonical_session_id(session_id)} not found")
    if part == "attachments":
        return Answer(200, fake.conversations.attachments(org_id, session))
    if part == "tags" and method == "GET":
        return Answer(200, {"tags": list(session["tags"])})
    if part == "messages" and method == "GET":
        return _list_messages(fake, org_id, session, query)
    data, errors = _json_object(body)
    if data is None:
        return _invalid(errors)
    if part == "messages":
        return _send_message(fake, org_id, session_id, data)
    return _change_tags(fake, org_id, session_id, data, replace=method == "PUT")


def _list_messages(fake: FakeState, org_id: str, session: Session, query: str) -> Answer:
    try:
        first, after = parse_page_query(query)
        return Answer(200, fake.conversations.page(org_id, session, first, after))
    except BadParams as exc:
        return Answer(422, detail="Invalid query parameters", errors=exc.errors)
    except ValueError:
        return Answer(422, detail="Invalid query parameters", errors=[cursor_error()])


def _json_object(body: bytes) -> tuple[dict[str, Any] | None, list[ParamError]]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, [_error([], "JSON decode error", "json_invalid")]
    if not isinstance(data, dict):
        message = "Input should be a valid dictionary or object to extract fields from"
        return None, [_error([], message, "model_attributes_type")]
    return data, []


def _string(data: dict[str, Any], name: str, errors: list[ParamError], *, required: bool) -> None:
    if name not in data:
        if required:
            errors.append(_error([name], "Field required", "missing"))
    elif not isinstance(data[name], str) and (required or data[name] is not None):
        errors.append(_error([name], "Input should be a valid string", "string_type"))


def _urls(value: object, errors: list[ParamError]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(_error(["attachment_urls"], "Input should be a valid list", "list_type"))
        return []
    for index, url in enumerate(value):
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or not (parts.scheme and parts.netloc) or len(url) > MAX_URL:
            message = f"Input should be a valid URL of at most {MAX_URL} characters"
            errors.append(_error(["attachment_urls", index], message, "url_parsing"))
    return list(value)


def _send_message(fake: FakeState, org_id: str, session_id: str, data: dict[str, Any]) -> Answer:
    errors: list[ParamError] = []
    _string(data, "message", errors, required=True)
    _string(data, "message_as_user_id", errors, required=False)
    urls = _urls(data.get("attachment_urls"), errors)
    if errors:
        return _invalid(errors)

    def resume(session: Session) -> dict[str, Any]:
        if session["status"] in ENDED:
            raise _Ended
        if session["status"] in ("running", "suspended"):
            return {"status": "running", "status_detail": "working"}
        return {}  # new, claimed, resuming: the message waits for Devin to start

    try:
        session = fake.store.change(org_id, session_id, resume)
    except _Ended:
        ended = fake.store.get(org_id, session_id) or {}
        detail = (
            f"Session {canonical_session_id(session_id)} has ended (status "
            f"{ended.get('status')}) and cannot be resumed"
        )
        return Answer(409, detail=detail)
    if session is None:
        return Answer(404, detail=f"Session {canonical_session_id(session_id)} not found")
    fake.conversations.add(org_id, session, data["message"], attachment_urls=urls)
    return Answer(200, action_answer(session))


def _change_tags(
    fake: FakeState, org_id: str, session_id: str, data: dict[str, Any], *, replace: bool
) -> Answer:
    tags = data.get("tags")
    errors: list[ParamError] = []
    if "tags" not in data:
        errors.append(_error(["tags"], "Field required", "missing"))
    elif not isinstance(tags, list):
        errors.append(_error(["tags"], "Input should be a valid list", "list_type"))
    else:
        if len(tags) > MAX_TAGS:
            message = f"List should have at most {MAX_TAGS} items after validation, not {len(tags)}"
            errors.append(_error(["tags"], message, "too_long"))
        errors += [
            _error(["tags", index], "Input should be a valid string", "string_type")
            for index, tag in enumerate(tags)
            if not isinstance(tag, str)
        ]
    if errors:
        return _invalid(errors)
    assert isinstance(tags, list)

    def change(session: Session) -> dict[str, Any]:
        kept = [] if replace else session["tags"]
        return {"tags": list(dict.fromkeys([*kept, *tags]))}

    session = fake.store.change(org_id, session_id, change)
    if session is None:
        return Answer(404, detail=f"Session {canonical_session_id(session_id)} not found")
    return Answer(200, {"tags": list(session["tags"])})
