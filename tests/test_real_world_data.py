"""Spec-valid but odd data from the API, through sync, track, archive and live refresh, on SQLite
and PostgreSQL alike: 10 kB strings, NUL characters, odd ids, odd times, one unreadable item.

Whatever arrives: no 500, no traceback, no phantom row, the right words on the page, and the rest
of the org's sessions stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard import sync, syncruns
from dashboard.models import Organization, Session, SyncRun
from fakedevin import FakeDevin
from tests.test_hostile_data import page

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_tracebacks")]


def text(html: str) -> str:
    """The page's words, as a person reads them: no tags, one space between words."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


# --- long strings and NUL ---------------------------------------------------------------------


def test_10kb_strings_are_stored_whole_and_indexed_columns_cut_and_marked(
    client: Client, fake: FakeDevin, acme: Organization, operator: User
) -> None:
    fake.inject("long_strings", count=None, path="/sessions")
    run = sync.sync_org(acme)
    fake.clear_faults()

    assert run.state == SyncRun.State.OK, run.error
    assert Session.objects.filter(org=acme).count() == 30
    row = Session.objects.filter(org=acme).first()
    assert row is not None
    # Whole, including in the JSON copy.
    assert len(row.subcategory) == len(row.url) == len(row.user_id) == 10_000
    assert len(row.raw["status"]) == 10_000 and len(row.tags[0]) == 10_000
    # A NUL is replaced, visibly, wherever it was.
    assert row.title.startswith("poison\ufffd ") and row.raw["title"].startswith("poison\ufffd")
    # Indexed columns: cut, and marked as cut.
    cut = (row.status, row.category, row.status_detail, row.origin)
    assert [len(value) for value in cut] == [100] * 4
    assert all(value.endswith("…") for value in cut)
    assert len(row.raw["origin"]) == len(row.raw["status_detail"]) == 10_000
    assert len(row.pr_states) <= 300 and "|open|" in row.pr_states
    client.force_login(operator)
    assert "poison\ufffd" in page(client)
    # The filters still find them.
    assert "poison" in page(client, "?archived=all&pr=open")
    assert "poison" in page(client, f"?archived=all&status={row.status}")


def test_a_nul_character_is_replaced_and_the_sync_goes_on(
    client: Client, fake: FakeDevin, acme: Organization, globex: Organization, operator: User
) -> None:
    poisoned = fake.add_session(
        "org-acme",
        title="poison\u0000",
        tags=["t\u0000"],
        pull_requests=[{"pr_url": "https://x.test/\u0000", "pr_state": "open\u0000"}],
        structured_output={"k\u0000": "v\u0000"},
    )

    runs = [sync.sync_org(acme), sync.sync_org(globex)]

    assert [run.state for run in runs] == [SyncRun.State.OK, SyncRun.State.OK]
    row = Session.objects.get(org=acme, session_id=poisoned["session_id"])
    assert (row.title, row.tags, row.pr_states) == ("poison\ufffd", ["t\ufffd"], "|open\ufffd|")
    assert row.raw["structured_output"] == {"k\ufffd": "v\ufffd"}
    assert Session.objects.filter(org=acme).count() == 31
    assert Session.objects.filter(org=globex).count() == 30


# --- one unreadable item -----------------------------------------------------------------------


def test_an_unreadable_item_is_skipped_counted_named_and_shown(
    client: Client, fake: FakeDevin, acme: Organization, operator: User, admin: User
) -> None:
    listed = [s["session_id"] for s in fake.sessions("org-acme") if not s["is_archived"]]
    middle = len(listed) // 2
    broken = listed[middle]
    fake.inject("bad_item", path="is_archived=false")

    run = sync.sync_org(acme)

    assert run.state == SyncRun.State.OK, run.error
    assert run.skipped == 1
    assert run.skipped_detail == (
        f"{broken}: items[{middle}].created_at should be Unix seconds, got a string"
    )
    stored = set(Session.objects.filter(org=acme).values_list("session_id", flat=True))
    assert len(stored) == 29 and broken not in stored
    said = f"1 session could not be read: {broken}: items[{middle}].created_at should be Unix"
    client.force_login(operator)
    assert said in text(page(client))
    client.force_login(admin)
    assert said in text(client.get("/orgs/").content.decode())
    # It is read again when it changes at Devin, or by a full sync.
    assert sync.sync_org(acme, full=True).skipped == 0
    assert Session.objects.filter(org=acme, session_id=broken).exists()


def test_an_unreadable_body_fails_the_run_clearly_and_keeps_what_was_stored(
    client: Client, fake: FakeDevin, acme: Organization, operator: User
) -> None:
    sync.sync_org(acme)
    fake.inject("unreadable_body", path="/sessions")

    run = sync.sync_org(acme)

    assert run.state == SyncRun.State.FAILED
    assert "not JSON" in run.error
    assert Session.objects.filter(org=acme).count() == 30
    client.force_login(operator)
    assert "sync failed" in page(client)


# --- odd ids -----------------------------------------------------------------------------------


ODD = "devin-ä b/c?#%&=+"


def test_odd_session_ids_sync_track_and_archive(
    client: Client, fake: FakeDevin, acme: Organization, operator: User
) -> None:
    fake.add_session("org-acme", session_id=ODD, title="Odd one", status="running")
    assert sync.sync_org(acme).state == SyncRun.State.OK
    row = Session.objects.get(org=acme, session_id=ODD)
    client.force_login(operator)
    assert "Odd one" in page(client)

    # Archived, the id going to Devin as one path segment.
    response = client.post(f"/sessions/{row.pk}/archive/")
    assert response.status_code == 302
    assert (fake.get("org-acme", ODD) or {}).get("is_archived") is True
    assert Session.objects.get(pk=row.pk).is_archived is True

    # Tracked by its id as typed (one without spaces or slashes, which read as a URL).
    typed = "devin-ä.b~c?#%&=+"
    fake.add_session("org-acme", session_id=typed, title="Typed odd one")
    response = client.post("/sessions/track/", {"ref": typed, "org": acme.pk}, follow=True)
    assert "Now tracking devin-ä.b~c?#%&amp;=+" in response.content.decode()
    assert Session.objects.get(org=acme, session_id=typed).title == "Typed odd one"
    assert Session.objects.filter(org=acme).count() == 32


def test_a_page_of_odd_ids_is_stored_as_given(fake: FakeDevin, acme: Organization) -> None:
    fake.inject("odd_ids", path="is_archived=false")

    run = sync.sync_org(acme)

    assert (run.state, run.skipped) == (SyncRun.State.OK, 0)
    ids = set(Session.objects.filter(org=acme).values_list("session_id", flat=True))
    assert {"devin-a b~0", "devin-ä/ß?#%&=+~1", "devin-no-prefix.2~2", "devin-..~4"} <= ids
    assert "devin-" + "x" * 300 + "~3" in ids


# --- odd times ---------------------------------------------------------------------------------


def test_zero_and_negative_times_are_stored_and_shown_as_unknown(
    client: Client, fake: FakeDevin, acme: Organization, operator: User
) -> None:
    fake.inject("odd_times", path="is_archived=false")

    run = sync.sync_org(acme)

    assert run.state == SyncRun.State.OK, run.error
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    created = set(Session.objects.filter(org=acme).values_list("created_at", flat=True))
    assert {epoch, epoch - timedelta(seconds=1), datetime(2100, 1, 1, tzinfo=UTC)} <= created
    client.force_login(operator)
    html = page(client, "?archived=all&sort=created")
    assert 'title="Devin gave 2100-01-01T00:00:00+00:00">unknown<' in html
    assert 'title="Devin gave 1970-01-01T00:00:00+00:00">unknown<' in html
    # A time from 2100 does not become the next sync's starting point.
    assert run.newest_updated_at is not None and run.newest_updated_at.year < 2100


# --- the incremental window --------------------------------------------------------------------


@pytest.fixture
def behind() -> Iterator[FakeDevin]:
    """A fake Devin whose clock is a day behind the dashboard's."""
    with FakeDevin(seed=3, sessions_per_org=10, now=time.time() - 86_400) as server:
        yield server


def test_the_window_follows_devins_clock_not_ours(behind: FakeDevin, settings: Any) -> None:
    org = Organization(name="Behind", org_id="org-acme", base_url=behind.url)
    org.set_token(behind.tokens["org-acme"]["manage"])
    org.save()
    first = sync.sync_org(org)
    newest = max(s["updated_at"] for s in behind.sessions("org-acme"))
    assert first.newest_updated_at == datetime.fromtimestamp(newest, UTC)
    target = behind.sessions("org-acme")[3]["session_id"]
    # Changed at Devin "now", by its clock: a day before the dashboard's.
    behind.update_session("org-acme", target, title="Changed at Devin", updated_at=newest + 5)

    second = sync.sync_org(org)

    assert not second.full
    assert second.since == datetime.fromtimestamp(newest - settings.SYNC_OVERLAP_SECONDS, UTC)
    assert Session.objects.get(org=org, session_id=target).title == "Changed at Devin"
    # A run that sees nothing new keeps the window where it was.
    third = sync.sync_org(org)
    assert third.newest_updated_at == datetime.fromtimestamp(newest + 5, UTC)
    assert syncruns.window_start(org) == third.newest_updated_at - timedelta(seconds=300)


def test_a_full_sync_without_a_success_before(fake: FakeDevin, acme: Organization) -> None:
    assert syncruns.window_start(acme) is None
    assert sync.sync_org(acme).full


# --- track and live refresh under each fault --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("long_strings", "Now tracking"),
        ("odd_times", "Now tracking"),
        ("bad_item", "session.created_at should be Unix seconds, got a string"),
        ("unreadable_body", "a body that is not JSON"),
        ("other_session", "was about session devin-not-the-one-asked-for of org-acme, not"),
        ("other_org", "was about session devin-not-the-one-asked-for of org-someone-else"),
    ],
)
def test_track_under_each_fault_answers_clearly(
    client: Client, fake: FakeDevin, acme: Organization, operator: User, fault: str, said: str
) -> None:
    created = fake.add_session("org-acme", title="To track")
    fake.inject(fault, method="GET")
    client.force_login(operator)

    response = client.post("/sessions/track/", {"ref": created["session_id"]}, follow=True)

    assert response.status_code == 200
    assert said in response.content.decode()
    # Nothing but the session asked for is ever stored.
    assert set(Session.objects.values_list("session_id", flat=True)) <= {created["session_id"]}


@pytest.mark.parametrize(
    "fault", ["long_strings", "odd_ids", "odd_times", "bad_item", "unreadable_body"]
)
def test_live_refresh_under_each_fault_never_fails_the_poll(
    client: Client, fake: FakeDevin, acme: Organization, operator: User, settings: Any, fault: str
) -> None:
    settings.LIVE_REFRESH_SECONDS = 15
    live = fake.add_session("org-acme", status="running", status_detail="working")
    sync.sync_org(acme)
    rows = Session.objects.filter(org=acme, status="running")
    Organization.objects.update(live_refreshed_at=None)
    fake.inject(fault, path="/sessions")
    client.force_login(operator)

    query = "&".join(f"ids={row.pk}" for row in rows) + "&since=0"
    response = client.get(f"/sessions/live/?{query}", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert Session.objects.filter(org=acme, session_id=live["session_id"]).exists()
    assert Session.objects.filter(org=acme).count() >= 31
