"""dashboard.paging: cursors that survive a round trip, pages that cover every row once, and
decoding that turns any garbage into None."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard import filters
from dashboard.models import AuditEvent, Organization, Session
from dashboard.paging import Keyset

pytestmark = pytest.mark.django_db

UPDATED = Keyset(Session, "updated_at", tag="updated")
ACUS = Keyset(Session, "acus_consumed", tag="acus")
AT = Keyset(AuditEvent, "at")


def encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.fixture
def sessions() -> list[Session]:
    """25 sessions whose sort values tie in groups, so that only the pk tells them apart."""
    org = Organization.objects.create(name="Acme", org_id="org-acme")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        Session.objects.create(
            org=org,
            session_id=f"devin-{n}",
            status="running",
            acus_consumed=float(n // 4),
            created_at=start,
            updated_at=start + timedelta(minutes=n // 3),
        )
        for n in range(25)
    ]


@pytest.mark.parametrize(("keyset", "column"), [(UPDATED, "updated_at"), (ACUS, "acus_consumed")])
def test_pages_walk_every_row_once_in_order_across_ties(
    sessions: list[Session], keyset: Keyset, column: str
) -> None:
    walked: list[int] = []
    after = None
    for _ in range(20):
        page = keyset.page(Session.objects.all(), after, 4)
        walked += [row.pk for row in page.rows]
        if not page.next_cursor:
            break
        after = keyset.decode(page.next_cursor)
        assert after is not None
    expected = list(Session.objects.order_by(f"-{column}", "-pk").values_list("pk", flat=True))
    assert walked == expected


def test_a_cursor_reads_back_as_the_rows_sort_value_and_pk(sessions: list[Session]) -> None:
    row = sessions[7]
    assert UPDATED.decode(UPDATED.cursor(row)) == (row.updated_at, row.pk)
    assert ACUS.decode(ACUS.cursor(row)) == (row.acus_consumed, row.pk)
    event = AuditEvent.objects.create(action="sync")
    assert AT.decode(AT.cursor(event)) == (event.at, event.pk)


def test_a_cursor_of_another_sort_is_stale(sessions: list[Session]) -> None:
    assert ACUS.decode(UPDATED.cursor(sessions[0])) is None
    assert AT.decode(UPDATED.cursor(sessions[0])) is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "%%%",
        "w6k",  # base64 of bytes that are not UTF-8
        encode(None),
        encode("updated"),
        encode({"updated": 1, "x": 2}),
        encode(["updated", "2026-01-01T00:00:00", 1]),  # naive
        encode(["updated", "9999-12-31T23:00:00-05:00", 1]),  # past year 9999 in UTC
        encode(["updated", "not a time", 1]),
        encode(["updated", 5, 1]),
        encode(["updated", "2026-01-01T00:00:00+00:00", True]),
        encode(["updated", "2026-01-01T00:00:00+00:00", 0]),
        encode(["updated", "2026-01-01T00:00:00+00:00", 2**63]),
        encode(["updated", "2026-01-01T00:00:00+00:00", 1, 2]),
        encode([[[[[["deep"]]]]]]),
        base64.urlsafe_b64encode(b"[" * 50_000).decode(),
        "x" * 100_000,
    ],
)
def test_garbage_decodes_to_none(raw: str) -> None:
    assert UPDATED.decode(raw) is None


@pytest.mark.parametrize("value", [10**400, "1.5", None, True, float("inf")])
def test_a_number_cursor_takes_only_finite_numbers(value: Any) -> None:
    # json.dumps writes inf as Infinity, which json.loads reads back.
    assert ACUS.decode(encode(["acus", value, 1])) is None


@pytest.fixture
def tied_orgs() -> list[Organization]:
    """Three orgs whose 90 sessions tie on every sort, within an org and across orgs, with pks
    in no particular order of the sort values."""
    orgs = [Organization.objects.create(name=f"Org {n}", org_id=f"org-{n}") for n in range(3)]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    order = list(range(90))
    random.Random(19).shuffle(order)
    Session.objects.bulk_create(
        Session(
            org=orgs[n % 3],
            session_id=f"devin-{n:04d}",
            status="running",
            is_archived=n % 7 == 0,
            acus_consumed=float(n // 9),
            created_at=start + timedelta(hours=n // 6),
            updated_at=start + timedelta(minutes=n // 5),
        )
        for n in order
    )
    return orgs


@pytest.mark.parametrize("sort", list(filters.SORT_KEYSETS))
@pytest.mark.parametrize("size", [1, 4, 7, 50])
def test_keyset_pages_are_the_offset_pages(
    tied_orgs: list[Organization], sort: str, size: int
) -> None:
    keyset = filters.SORT_KEYSETS[sort]
    # Two of the three orgs, active only: the sessions page's filter for a member of two orgs.
    shown = Session.objects.filter(org__in=[tied_orgs[0], tied_orgs[2]], is_archived=False)
    everything = list(keyset.order(shown).values_list("pk", flat=True))
    assert len(everything) > 40
    after = None
    for number in range(len(everything) // size + 2):
        page = keyset.page(shown, after, size)
        assert [row.pk for row in page.rows] == everything[number * size : (number + 1) * size]
        if not page.next_cursor:
            break
        after = keyset.decode(page.next_cursor)  # as the next page's link carries it
    assert (number + 1) * size >= len(everything) > number * size
