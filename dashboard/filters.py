"""The sessions page's filters, sort and keyset pagination, read from the query string.

The API has no status filter, sort or search, so the dashboard filters its own copy. Filters live
in the URL (shareable, the back button works). Pagination is keyset ("after this row"), so page 500
costs what page 1 does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import QueryDict

from dashboard import vocabulary
from dashboard.models import Organization, Session
from dashboard.vocabulary import label

# The spec's enums, for the filter menus (their words are in dashboard/vocabulary.py). Values the
# API adds later still show and filter: a value seen in the URL is offered too (see `choices`).
STATUSES = list(vocabulary.STATUSES)
STATUS_DETAILS = list(vocabulary.STATUS_DETAILS)
CATEGORIES = list(vocabulary.CATEGORIES)
ORIGINS = list(vocabulary.ORIGINS)
PR_STATES = list(vocabulary.PR_STATES)
ARCHIVED = {"active": "Active", "archived": "Archived", "all": "All"}
PR_FILTERS = {"any": "Any", "none": "No PR", **{s: label(s) for s in PR_STATES}}
SORTS = {"updated": "updated_at", "created": "created_at", "acus": "acus_consumed"}
SORT_LABELS = {"updated": "Last updated", "created": "Created", "acus": "ACUs"}
# Parameters that choose *which* sessions; the rest (sort, cursor) only order and page them.
FILTER_KEYS = ("org", "status", "detail", "category", "archived", "pr", "tag", "origin", "q")
# The header's counter of active sessions is exact up to this many, then "10,000+". A COUNT reads
# every matching index entry: at 100k sessions ~3 ms on SQLite and ~10 ms on PostgreSQL, on every
# page and after every archive (docs/performance.md). A bulk archive takes 10,000 at most too.
COUNT_CAP = 10_000


def count_label(count: int) -> str:
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else str(count)


def capped_count(qs: QuerySet[Session]) -> str:
    """How many rows `qs` has, as the counter shows it; counts no further than the cap."""
    return count_label(qs[: COUNT_CAP + 1].count())


def choices(known: list[str], chosen: list[str] | str) -> list[tuple[str, str]]:
    extra = [chosen] if isinstance(chosen, str) else chosen
    values = known + [v for v in extra if v and v not in known]
    return [(v, label(v)) for v in values]


@dataclass
class SessionFilters:
    org: int | None = None
    status: list[str] = field(default_factory=list)
    detail: str = ""
    category: str = ""
    archived: str = "active"
    pr: str = "any"
    tag: str = ""
    origin: str = ""
    q: str = ""
    sort: str = "updated"
    after: tuple[Any, int] | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: QueryDict) -> SessionFilters:
        """Read filters leniently: a garbled value is dropped with a note, never a 500."""
        f = cls()
        raw_org = query.get("org", "")
        if raw_org:
            if raw_org.isdigit():
                f.org = int(raw_org)
            else:
                f.errors.append("Unknown organization in the link; showing all.")
        f.status = [s[:40] for s in query.getlist("status") if s][:20]
        f.detail = query.get("detail", "")[:60]
        f.category = query.get("category", "")[:60]
        f.archived = query.get("archived", "active")
        if f.archived not in ARCHIVED:
            f.archived = "active"
        f.pr = query.get("pr", "any")
        if f.pr not in PR_FILTERS:
            f.pr = "any"
        f.tag = query.get("tag", "").strip()[:100]
        f.origin = query.get("origin", "")[:40]
        f.q = query.get("q", "").strip()[:200]
        f.sort = query.get("sort", "updated")
        if f.sort not in SORTS:
            f.sort = "updated"
        raw_after = query.get("after", "")
        if raw_after:
            f.after = decode_cursor(raw_after, f.sort)
            if f.after is None:
                f.errors.append("That page link has expired; showing the first page.")
        return f

    @property
    def is_filtered(self) -> bool:
        return self != SessionFilters(sort=self.sort, after=self.after, errors=self.errors)

    def apply(self, qs: QuerySet[Session]) -> QuerySet[Session]:
        if self.org is not None:
            qs = qs.filter(org_id=self.org)
        if self.status:
            qs = qs.filter(status__in=self.status)
        if self.detail:
            qs = qs.filter(status_detail=self.detail)
        if self.category:
            qs = qs.filter(category=self.category)
        if self.archived == "active":
            qs = qs.filter(is_archived=False)
        elif self.archived == "archived":
            qs = qs.filter(is_archived=True)
        if self.pr == "none":
            qs = qs.filter(pr_states="")
        elif self.pr != "any":
            qs = qs.filter(pr_states__contains=f"|{self.pr}|")
        if self.tag:
            qs = qs.filter(tags_text__contains=f"|{self.tag}|")
        if self.origin:
            qs = qs.filter(origin=self.origin)
        if self.q:
            qs = qs.filter(Q(title__icontains=self.q) | Q(session_id__icontains=self.q))
        return qs

    def order(self, qs: QuerySet[Session]) -> QuerySet[Session]:
        column = SORTS[self.sort]
        if self.after is not None:
            value, pk = self.after
            qs = qs.filter(Q(**{f"{column}__lt": value}) | Q(**{column: value, "pk__lt": pk}))
        return qs.order_by(f"-{column}", "-pk")

    def cursor_for(self, row: Session) -> str:
        value = getattr(row, SORTS[self.sort])
        encoded = value.isoformat() if isinstance(value, datetime) else value
        payload = json.dumps([self.sort, encoded, row.pk]).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    def query(self, **changes: Any) -> str:
        """This filter set as a query string, with some values changed (None drops a key)."""
        return urlencode(self.pairs(**changes))

    @property
    def query_pairs(self) -> list[tuple[str, Any]]:
        """The filters (not sort or page) as (name, value) pairs, e.g. for hidden inputs."""
        return self.pairs(sort="")

    def pairs(self, **changes: Any) -> list[tuple[str, Any]]:
        params: dict[str, Any] = {
            "org": self.org or "",
            "status": self.status,
            "detail": self.detail,
            "category": self.category,
            "archived": "" if self.archived == "active" else self.archived,
            "pr": "" if self.pr == "any" else self.pr,
            "tag": self.tag,
            "origin": self.origin,
            "q": self.q,
            "sort": "" if self.sort == "updated" else self.sort,
        }
        params.update(changes)
        return [
            (k, item)
            for k, v in params.items()
            if v is not None
            for item in (v if isinstance(v, list) else [v])
            if item != ""
        ]


def decode_cursor(raw: str, expected_sort: str) -> tuple[Any, int] | None:
    """The (sort value, pk) a page link continues after, or None if it is garbled or stale."""
    try:
        sort, value, pk = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if sort != expected_sort or isinstance(pk, bool) or not isinstance(pk, int):
            return None
        if sort in {"updated", "created"}:
            value = datetime.fromisoformat(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def org_choices(orgs: list[Organization]) -> list[tuple[int, str]]:
    return [(org.pk, org.name) for org in orgs]
