"""The filters of the sessions list (GET /sessions), checked once when they are made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dashboard.devin.schema import canonical_session_id

PAGE_SIZE_MAX: Final = 200
_TIMES: Final = ("updated_after", "updated_before", "created_after", "created_before")


@dataclass(frozen=True, kw_only=True)
class SessionQuery:
    """Which sessions to list, and how many a page. Times are Unix seconds.

    `session_ids` are ids as the API gives them (see `canonical_session_id`), kept canonical. An
    empty `session_ids` asks for no sessions (`asks_nothing`): sending no filter would return
    every session instead. Raises ValueError or TypeError for a value the API cannot take.
    """

    first: int = PAGE_SIZE_MAX
    updated_after: int | None = None
    updated_before: int | None = None
    created_after: int | None = None
    created_before: int | None = None
    is_archived: bool | None = None
    session_ids: Sequence[str] | None = None
    tags: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.first <= PAGE_SIZE_MAX:
            raise ValueError(f"first must be between 1 and {PAGE_SIZE_MAX}, not {self.first!r}")
        for name in _TIMES:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be Unix seconds (int), not {value!r}")
        if isinstance(self.session_ids, str) or isinstance(self.tags, str):
            raise TypeError("session_ids and tags must be lists of strings, not one string")
        # Frozen, so set through object; tuples also make the query hashable.
        if self.session_ids is not None:
            ids = tuple(canonical_session_id(value) for value in self.session_ids)
            object.__setattr__(self, "session_ids", ids)
        if self.tags is not None:
            object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def asks_nothing(self) -> bool:
        return self.session_ids is not None and not self.session_ids

    def params(self, after: str | None = None) -> list[tuple[str, str]]:
        """The query string, `after` being the previous page's `end_cursor`.

        The spec wraps these in one object-valued `qs` parameter, but the documented wire form
        (and FastAPI's) is flat query parameters with arrays as repeated keys.
        """
        params = [("first", str(self.first))]
        if after is not None:
            params.append(("after", after))
        for name in _TIMES:
            value = getattr(self, name)
            if value is not None:
                params.append((name, str(value)))
        if self.is_archived is not None:
            params.append(("is_archived", "true" if self.is_archived else "false"))
        params += [("session_ids", session_id) for session_id in self.session_ids or ()]
        params += [("tags", tag) for tag in self.tags or ()]
        return params
