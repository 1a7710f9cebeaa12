"""The list endpoints' query strings: flat params parsed and validated (sessions into a
``store.Query``; messages into a page size and cursor).

Errors are reported all at once, in the FastAPI shape the real API keeps inside a problem's
``errors``; the filter semantics themselves are ``store``'s.
"""

from __future__ import annotations

from typing import TypedDict
from urllib.parse import parse_qs

from . import seed as seeding
from .store import Query, decode_cursor

_CATEGORIES = frozenset(seeding.CATEGORIES)
_ORIGINS = frozenset(origin for origin, _ in seeding.ORIGINS)


class ParamError(TypedDict):
    loc: list[str | int]
    msg: str
    type: str


class BadParams(Exception):
    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("invalid parameters")
        self.errors = errors


def _param_error(name: str, message: str, kind: str) -> ParamError:
    return {"loc": ["query", name], "msg": message, "type": kind}


def parse_list_query(raw_query: str) -> Query:
    """Validate the list endpoint's flat query params; BadParams lists every problem."""
    params = parse_qs(raw_query, keep_blank_values=True)
    errors: list[ParamError] = []

    def last(name: str) -> str | None:
        values = params.get(name)
        return values[-1] if values else None

    def integer(name: str) -> int | None:
        value = last(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            errors.append(_param_error(name, "Input should be a valid integer", "int_parsing"))
            return None

    first = _first(last("first"), errors)

    after = None
    cursor = last("after")
    if cursor:
        try:
            after = decode_cursor(cursor)
        except ValueError:
            errors.append(cursor_error())

    is_archived = None
    archived_raw = last("is_archived")
    if archived_raw is not None:
        lowered = archived_raw.lower()
        if lowered in ("true", "1"):
            is_archived = True
        elif lowered in ("false", "0"):
            is_archived = False
        else:
            errors.append(
                _param_error("is_archived", "Input should be a valid boolean", "bool_parsing")
            )

    origins = params.get("origins")
    for origin in origins or ():
        if origin not in _ORIGINS:
            errors.append(_param_error("origins", f"Unknown origin {origin!r}", "enum"))
    category = last("category")
    if category is not None and category not in _CATEGORIES:
        errors.append(_param_error("category", f"Unknown category {category!r}", "enum"))

    query = Query(
        first=first,
        after=after,
        created_after=integer("created_after"),
        created_before=integer("created_before"),
        updated_after=integer("updated_after"),
        updated_before=integer("updated_before"),
        is_archived=is_archived,
        session_ids=frozenset(params["session_ids"]) if "session_ids" in params else None,
        tags=frozenset(params["tags"]) if "tags" in params else None,
        origins=frozenset(origins) if origins else None,
        category=category,
    )
    if errors:
        raise BadParams(errors)
    return query


def _first(value: str | None, errors: list[ParamError]) -> int:
    """A page size: 1..200, 100 when absent (or unreadable, with an error added)."""
    if value is None:
        return 100
    try:
        first = int(value)
    except ValueError:
        errors.append(_param_error("first", "Input should be a valid integer", "int_parsing"))
        return 100
    if not 1 <= first <= 200:
        errors.append(_param_error("first", "Input should be between 1 and 200", "range_error"))
    return first


def parse_page_query(raw_query: str) -> tuple[int, str | None]:
    """``first`` and ``after`` of a cursor-paged list other than sessions (messages).

    Whether ``after`` is a cursor the list made is the list's to say.
    """
    params = parse_qs(raw_query, keep_blank_values=True)
    errors: list[ParamError] = []
    first = _first(params.get("first", [None])[-1], errors)
    if errors:
        raise BadParams(errors)
    return first, params.get("after", [""])[-1] or None


def cursor_error() -> ParamError:
    return _param_error("after", "Invalid cursor", "value_error")


def flag(raw_query: str, name: str) -> bool:
    """A boolean param outside the list endpoint (DELETE's ``archive``): absent is false."""
    return parse_qs(raw_query).get(name, ["false"])[-1].lower() in ("true", "1")
