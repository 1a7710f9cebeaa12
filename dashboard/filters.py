"""GET filters as forms: what every filter form does (FilterForm), and the sessions page's.

The API has no status filter, sort or search, so the dashboard filters its own copy. Filters live
in the URL (shareable, the back button works), and a link is read leniently: a value that does not
validate is left out with a note, never a 500. Pages are keyset (dashboard.paging).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import date
from typing import Any, ClassVar
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import QueryDict

from dashboard import access, search, vocabulary
from dashboard.fields import FallbackChoiceField, TextField, TextListField
from dashboard.models import Session
from dashboard.paging import MAX_PK, Key, Keyset, Page
from dashboard.vocabulary import label

# The spec's enums, for the filter menus (their words are in dashboard/vocabulary.py). Values the
# API adds later still show and filter: a value seen in the URL is offered too (see `choices`).
STATUSES = list(vocabulary.STATUSES)
STATUS_DETAILS = list(vocabulary.STATUS_DETAILS)
CATEGORIES = list(vocabulary.CATEGORIES)
ORIGINS = list(vocabulary.ORIGINS)
PR_STATES = list(vocabulary.PR_STATES)
# "active" in links means not archived (it says nothing about whether Devin is running).
ARCHIVED = {"active": "Not archived", "archived": "Archived", "all": "Archived or not"}
# "No open PR" and "All PRs merged or closed" serve retention rules (dashboard.rules) as well.
UNSETTLED_PRS = ("open", "draft")
PR_FILTERS = {
    "any": "Any",
    "none": "No PR",
    "no_open": "No open PR",
    "settled": "All PRs merged or closed",
    **{s: label(s) for s in PR_STATES},
}
SORTS = {"updated": "updated_at", "created": "created_at", "acus": "acus_consumed"}
SORT_LABELS = {"updated": "Last updated", "created": "Created", "acus": "ACUs"}
# Parameters that choose *which* sessions; the rest (sort, cursor) only order and page them.
# The view is not one of them: clearing the filters keeps it.
FILTER_KEYS = (
    "org",
    "status",
    "detail",
    "category",
    "archived",
    "pr",
    "tag",
    "origin",
    "user",
    "q",
)
# The views (vocabulary.VIEWS), as conditions. "" is no view chosen: the page picks the first
# that is not empty (or "all" under a filter); every other reader (bulk, rules) applies none.
VIEW_CONDITIONS = {
    "attention": Q(status="error")
    | Q(status_detail__in=(*vocabulary.ATTENTION_DETAILS, "error"))
    | Q(status_detail="finished", pr_states__contains="|open|"),
    "running": Q(status__in=vocabulary.RUNNING_STATUSES),
    "finished": Q(status__in=vocabulary.ENDED_STATUSES),
    "all": Q(),
    "archived": Q(),
}
VIEW_CHOICES = [("", "Default"), *((v.value, v.label) for v in vocabulary.VIEWS.values())]
# The results' count ("N sessions match") is exact up to this many, then "1,000+". An exact
# COUNT reads every matching index entry, and a row for each under a filter no index covers (a
# tag, a search word): counting to 10,000 tagged "urgent" read ~60,000 rows at 1M sessions
# (0.17-0.26 s of CPU), to 1,000 about 6,000 rows, as many as the whole 10k database holds
# (docs/performance.md, issue 19). A bulk archive of the filter still takes up to
# bulk.MAX_TARGETS (10,000); the page says so when the count is capped.
COUNT_CAP = 1_000
# The views' and status chips' counts (a dozen a page, the nav's too) stop sooner: a triage hint
# needs no more, and each then reads at most this many index rows (docs/performance.md).
VIEW_COUNT_CAP = 1_000


def count_upto(qs: QuerySet[Session], cap: int | None = None) -> int:
    """How many rows `qs` has, counting no further than one past the cap (COUNT_CAP)."""
    return qs[: (cap or COUNT_CAP) + 1].count()


def count_label(count: int, cap: int | None = None) -> str:
    cap = cap or COUNT_CAP
    return f"{cap:,}+" if count > cap else str(count)


def capped_count(qs: QuerySet[Session], cap: int | None = None) -> str:
    """How many rows `qs` has, as the counter shows it."""
    return count_label(count_upto(qs, cap), cap)


def view_sessions[M: Model](qs: QuerySet[M], view: str, archived: str = "active") -> QuerySet[M]:
    """`qs` narrowed to a view; `archived` (the filter) applies to every view but "archived"."""
    if view == "archived":
        archived = "archived"
    if archived != "all":
        qs = qs.filter(is_archived=archived == "archived")
    return qs.filter(VIEW_CONDITIONS.get(view, Q()))


def counts_upto(named: dict[str, QuerySet[Session]], cap: int) -> dict[str, int]:
    """count_upto of each queryset, all in one query (one round trip, each count still capped
    and still the index seek its own query would be)."""
    if not named:
        return {}
    parts: list[str] = []
    params: list[Any] = []
    for qs in named.values():
        sql, part_params = _capped_count_sql(qs, cap)
        parts.append(f"({sql})")
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(named, row, strict=True))


def view_counts(
    qs: QuerySet[Session] | None, in_view: QuerySet[Session] | None, statuses: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Each view's count among `qs` and each of `statuses`' among `in_view` (the view shown),
    up to VIEW_COUNT_CAP + 1: a dozen capped counts in one query. None: not counted."""
    named = {view: view_sessions(qs, view) for view in vocabulary.VIEWS} if qs is not None else {}
    if in_view is not None:
        named.update({f"status:{s}": in_view.filter(status=s) for s in statuses})
    counts = counts_upto(named, VIEW_COUNT_CAP)
    views = {view: counts[view] for view in vocabulary.VIEWS if view in counts}
    return views, {s: counts[f"status:{s}"] for s in statuses if f"status:{s}" in counts}


def view_statuses(view: str, chosen: list[str]) -> list[str]:
    """The status chips of a view: its statuses, and any chosen in the link."""
    known = list(vocabulary.VIEW_STATUSES.get(view, STATUSES))
    return known + [s for s in chosen if s not in known]


def _capped_count_sql(qs: QuerySet[Session], cap: int) -> tuple[str, tuple[Any, ...]]:
    """count_upto(qs, cap) as SQL and params."""
    sql, params = qs.values("pk")[: cap + 1].query.sql_with_params()
    return f"SELECT COUNT(*) FROM ({sql}) AS capped", tuple(params)


def attention_count(qs: QuerySet[Session]) -> str:
    """The sessions of `qs` that need a person, as the nav counter shows it."""
    return capped_count(view_sessions(qs, "attention"), VIEW_COUNT_CAP)


def attention_count_of(user: User) -> str:
    """The nav counter of a user: attention_count of the orgs they see, by a query compiled once
    per user and process (`_attention_sql`)."""
    sql, params = _attention_sql(user.pk, access.is_site_admin(user))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return count_label(cursor.fetchone()[0], VIEW_COUNT_CAP)


@functools.lru_cache(maxsize=1024)
def _attention_sql(user_pk: int, site_admin: bool) -> tuple[str, tuple[Any, ...]]:
    """The same SQL every time for a user (the visible orgs a subquery, the view's conditions
    constants); compiling it was 1.3 of the 2.3 ms of CPU the counter took per click."""
    orgs = access.visible_orgs_of(user_pk, site_admin=site_admin)
    needing = view_sessions(Session.objects.filter(org__in=orgs), "attention")
    return _capped_count_sql(needing, VIEW_COUNT_CAP)


def choices(known: list[str], chosen: list[str] | str) -> list[tuple[str, str]]:
    extra = [chosen] if isinstance(chosen, str) else chosen
    values = known + [v for v in extra if v and v not in known]
    return [(v, label(v)) for v in values]


class FilterForm(forms.Form):
    """Filters read from a query string, cleaned as soon as the form is made.

    Every parameter is validated. A value that does not validate counts as absent (the others
    still apply), and its error is kept as a note for the page. `after` is the page's cursor,
    read last: which keyset it belongs to may depend on the other fields (the sort).
    """

    after = forms.CharField(required=False, strip=False, empty_value=None)
    expired_note = "That page link has expired; showing the first page."
    # The fields that, when set, keep the rows matching one lookup: {field: lookup}.
    lookups: ClassVar[dict[str, str]] = {}

    def __init__(self, data: QueryDict | dict[str, str]) -> None:
        super().__init__(data)
        self.fields["after"] = self.fields.pop("after")
        self.full_clean()

    def keyset(self) -> Keyset:
        raise NotImplementedError

    def clean_after(self) -> Key | None:
        raw: str | None = self.cleaned_data["after"]
        if raw is None:
            return None
        key = self.keyset().decode(raw)
        if key is None:
            raise ValidationError(self.expired_note, code="expired")
        return key

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.errors:
            if name in self.fields:
                cleaned[name] = self.fields[name].clean(None)
        return cleaned

    def apply[M: Model](self, qs: QuerySet[M]) -> QuerySet[M]:
        """`qs` narrowed by the simple lookups; a subclass adds the filters that are not one."""
        for name, lookup in self.lookups.items():
            value = self.cleaned_data[name]
            if value not in (None, "", []):
                qs = qs.filter(**{lookup: value})
        return qs

    @property
    def notes(self) -> list[str]:
        return [str(message) for errors in self.errors.values() for message in errors]

    def page[M: Model](self, qs: QuerySet[M], size: int) -> Page[M]:
        return self.keyset().page(qs, self.cleaned_data["after"], size)

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        """The values that differ from the defaults, as (name, value) pairs in field order, with
        `changes` applied ("" drops a name). The cursor is left out unless it is a change."""
        pairs = []
        for name, field in self.fields.items():
            if name in changes:
                value: object = changes[name]
            else:
                value = None if name == "after" else self.cleaned_data[name]
            if value is None or value == "" or value == field.initial:
                continue
            for item in value if isinstance(value, list) else [value]:
                pairs.append((name, item.isoformat() if isinstance(item, date) else str(item)))
        return pairs

    def query(self, **changes: str) -> str:
        """This filter set as a query string, with some values changed ("" drops a key)."""
        return urlencode(self.pairs(**changes))

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        """The filters (not sort or page) as (name, value) pairs, e.g. for hidden inputs."""
        return self.pairs(sort="")

    @property
    def is_filtered(self) -> bool:
        return bool(self.query_pairs)


UNKNOWN_ORG = "Unknown organization in the link; showing all."
SORT_KEYSETS = {name: Keyset(Session, column, tag=name) for name, column in SORTS.items()}


class SessionFilters(FilterForm):
    """The sessions page's filters. `org_pks` are the orgs the user may pick (None: any)."""

    org = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PK,
        error_messages=dict.fromkeys(("invalid", "min_value", "max_value"), UNKNOWN_ORG),
    )
    # As long as the stored values may be (sync.INDEXED_LIMITS), so a menu choice still matches.
    status = TextListField(limit=100, most=20)
    detail = TextField(200)
    category = TextField(100)
    archived = FallbackChoiceField(ARCHIVED.items(), "active")
    pr = FallbackChoiceField(PR_FILTERS.items(), "any")
    tag = TextField(100, strip=True)
    origin = TextField(200)
    # Who started the session (Devin's user_id).
    user = TextField(200, strip=True)
    q = TextField(200, strip=True)
    view = FallbackChoiceField(VIEW_CHOICES, "")
    sort = FallbackChoiceField(SORT_LABELS.items(), "updated")
    lookups: ClassVar[dict[str, str]] = {
        "org": "org_id",
        "status": "status__in",
        "detail": "status_detail",
        "category": "category",
        "origin": "origin",
        "user": "user_id",
    }

    def __init__(
        self, data: QueryDict | dict[str, str], *, org_pks: Collection[int] | None
    ) -> None:
        self.org_pks = org_pks
        super().__init__(data)

    def clean_org(self) -> int | None:
        org: int | None = self.cleaned_data["org"]
        if org is not None and self.org_pks is not None and org not in self.org_pks:
            raise ValidationError(UNKNOWN_ORG, code="unknown")
        return org

    def keyset(self) -> Keyset:
        return SORT_KEYSETS[self.cleaned_data["sort"]]

    @property
    def is_filtered(self) -> bool:
        """Whether a filter is on (a view alone is not one)."""
        return bool(self.pairs(sort="", view=""))

    def apply[M: Model](self, qs: QuerySet[M]) -> QuerySet[M]:
        qs = self._narrow(qs)[0]
        return search.matching(qs, self.cleaned_data["q"]) if self.cleaned_data["q"] else qs

    def apply_counted(self, qs: QuerySet[Session]) -> tuple[QuerySet[Session], int]:
        """apply(qs), and how many rows it has up to COUNT_CAP + 1 (count_upto)."""
        qs, counted = self._narrow(qs)
        f = self.cleaned_data
        if f["q"]:
            return search.matching_counted(qs, f["q"], COUNT_CAP)
        if counted is not None:  # a rare tag: its few candidates, read by json_each
            return qs, count_upto(counted)
        # A common tag alone: counted from the tag index's candidates in pk order (on SQLite),
        # so ~1,200 rows are read for COUNT_CAP + 1 matches, not the ~6,000 active rows a scan
        # reads to find them (search.count_tagged). With another filter an index narrows first.
        alone = not self.pairs(sort="", view="", tag="") and f["view"] in ("", "all")
        if f["tag"] and alone:
            return qs, search.count_tagged(qs, f["tag"], COUNT_CAP)
        return qs, count_upto(qs)

    def _narrow[M: Model](self, qs: QuerySet[M]) -> tuple[QuerySet[M], QuerySet[M] | None]:
        """`qs` narrowed by every filter but the text search; and the same rows as a queryset to
        count when a rare tag's index lookup gave one (search.tagged)."""
        qs = super().apply(qs)
        f = self.cleaned_data
        qs = view_sessions(qs, f["view"] or "all", f["archived"])
        if f["pr"] == "none":
            qs = qs.filter(pr_states="")
        elif f["pr"] in ("no_open", "settled"):
            for state in UNSETTLED_PRS:
                qs = qs.exclude(pr_states__contains=f"|{state}|")
            if f["pr"] == "settled":
                qs = qs.exclude(pr_states="")
        elif f["pr"] != "any":
            qs = qs.filter(pr_states__contains=f"|{f['pr']}|")
        if f["tag"]:
            return search.tagged(qs, f["tag"])
        return qs, None
