"""An action Devin accepted (2xx) whose answer cannot be used: a body that is not JSON or not the
contract, or an answer about another session or another org. Through the row (htmx and plain
POST) and a bulk run on a real worker, over real HTTP to the fake, on SQLite and PostgreSQL.

Whatever the answer: no 500, no phantom row, the session re-read and shown as it is (or, if the
re-read fails too, shown as the action leaves it), and the audit says done, with the detail.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from dashboard import sync
from dashboard.models import ActionAttempt, AuditEvent, BulkItem, BulkRun, Organization, Session
from fakedevin import FakeDevin
from fakedevin.faults import OTHER_SESSION_ID
from tests import test_archive
from tests.test_bulk_workers import ENV, add_sessions, outcomes, start_run
from tests.workers import wait_for, worker

pytestmark = pytest.mark.usefixtures("no_tracebacks")

HX = {"HX-Request": "true"}
# Each fault, and what the audit says was wrong with the answer.
FAULTS = {
    "unreadable_body": "(it was not JSON)",
    "malformed_json": "(it was not JSON)",
    "missing_fields": "(session.url is missing)",
    "other_session": "(the answer was about session devin-not-the-one-asked-for of org-acme, not",
    "other_org": "(the answer was about session devin-not-the-one-asked-for of org-someone-else",
}
ACCEPTED = "Devin accepted it, but its answer could not be used "
# Each action's call, as a fault's filter names it.
ENDPOINT = {"archive": ("POST", "/archive"), "unarchive": ("POST", "/unarchive")}
ENDPOINT["terminate"] = ("DELETE", "/sessions/")


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(html)).split())


# A running, categorised session with PRs, as the dashboard knows it.
running = test_archive.running


def act(
    client: Client,
    session: Session,
    action: str,
    fault: str,
    fake: FakeDevin,
    *,
    reread_fails: bool = False,
) -> str:
    """The row an htmx POST of `action` answers while its call gets `fault` (and every GET a
    500, with `reread_fails`)."""
    method, path = ENDPOINT[action]
    fake.inject(fault, count=None, method=method, path=path)
    if reread_fails:
        fake.inject("status", status=500, count=None, method="GET")
    response = client.post(f"/sessions/{session.pk}/{action}/", headers=HX)
    fake.clear_faults()
    assert response.status_code == 200
    return response.content.decode()


def assert_no_phantom(org: Organization, before: int) -> None:
    assert Session.objects.filter(org=org).count() == before
    assert not Session.objects.filter(session_id=OTHER_SESSION_ID).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS)
def test_an_unusable_answer_is_reread_and_the_row_shown_as_it_is(
    client: Client, running: Session, operator: Any, fake: FakeDevin, fault: str
) -> None:
    client.force_login(operator)
    rows = Session.objects.filter(org=running.org).count()

    html = act(client, running, "archive", fault, fake)

    assert_no_phantom(running.org, rows)
    shown = words(html)
    assert "Devin's answer could not be read; a re-read shows it archived." in shown
    assert "row-error" not in html and "archived-marker" in html
    stored = Session.objects.get(pk=running.pk)
    # The re-read's state: asleep, its category kept, its detail fresh.
    assert (stored.is_archived, stored.status, stored.category) == (True, "suspended", "bug_fixing")
    assert (fake.get("org-acme", running.session_id) or {})["is_archived"] is True
    event = AuditEvent.objects.get(action="archive")
    assert (event.outcome, event.session_id) == ("ok", running.session_id)
    assert event.detail.startswith(ACCEPTED + FAULTS[fault]), event.detail
    assert event.detail.endswith("; a re-read shows it archived.")
    assert ActionAttempt.objects.get().outcome == "ok"


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["unreadable_body", "other_session", "other_org"])
def test_when_the_reread_fails_too_the_row_is_shown_archived(
    client: Client, running: Session, operator: Any, fake: FakeDevin, fault: str
) -> None:
    client.force_login(operator)
    rows = Session.objects.filter(org=running.org).count()
    before = model_to_dict(Session.objects.get(pk=running.pk))

    html = act(client, running, "archive", fault, fake, reread_fails=True)

    assert_no_phantom(running.org, rows)
    assert "Archived; details will refresh on the next sync." in words(html)
    assert "row-error" not in html and "archived-marker" in html
    assert "Nothing was changed" not in html
    stored = model_to_dict(Session.objects.get(pk=running.pk))
    # Devin said yes: archived here too; the rest waits for the next sync.
    assert stored.pop("is_archived") is True and before.pop("is_archived") is False
    assert stored.pop("synced_at") > before.pop("synced_at")  # the live view sends it
    assert stored == before
    event = AuditEvent.objects.get(action="archive")
    assert event.outcome == "ok"
    assert event.detail.startswith(ACCEPTED + FAULTS[fault]), event.detail
    assert "the session could not be re-read (" in event.detail
    assert event.detail.endswith("so it is shown archived; details will refresh on the next sync.")


@pytest.mark.django_db
def test_the_next_sync_brings_the_details(
    client: Client, running: Session, operator: Any, fake: FakeDevin, acme: Organization
) -> None:
    client.force_login(operator)
    act(client, running, "archive", "unreadable_body", fake, reread_fails=True)
    assert Session.objects.get(pk=running.pk).status == "running"

    assert sync.sync_org(acme).state == "ok"

    stored = Session.objects.get(pk=running.pk)
    assert (stored.is_archived, stored.status) == (True, "suspended")


@pytest.mark.django_db
@pytest.mark.parametrize("reread", ["works", "fails"])
def test_unarchive_and_terminate_likewise(
    client: Client, running: Session, operator: Any, fake: FakeDevin, reread: str
) -> None:
    client.force_login(operator)
    fake.store.archive("org-acme", running.session_id)
    assert sync.sync_org(running.org).state == "ok"
    fails = reread == "fails"

    unarchived = words(act(client, running, "unarchive", "other_org", fake, reread_fails=fails))
    terminated = act(client, running, "terminate", "unreadable_body", fake, reread_fails=fails)
    terminated = words(terminated)

    stored = Session.objects.get(pk=running.pk)
    assert (stored.is_archived, stored.status) == (False, "exit")
    if reread == "works":
        assert "a re-read shows it unarchived." in unarchived
        assert "a re-read shows it terminated." in terminated
    else:
        assert "Unarchived; details will refresh on the next sync." in unarchived
        assert "Terminated; details will refresh on the next sync." in terminated
    events = AuditEvent.objects.filter(action__in=["unarchive", "terminate"])
    assert sorted(events.values_list("action", "outcome")) == [
        ("terminate", "ok"),
        ("unarchive", "ok"),
    ]
    assert all(e.detail.startswith(ACCEPTED) for e in events)


@pytest.mark.django_db
def test_the_plain_post_says_it_was_done_and_how(
    client: Client, running: Session, operator: Any, fake: FakeDevin
) -> None:
    client.force_login(operator)
    fake.inject("other_session", count=None, method="POST", path="/archive")
    response = client.post(f"/sessions/{running.pk}/archive/", follow=True)
    fake.clear_faults()
    assert response.status_code == 200
    shown = words(response.content.decode())
    assert (
        f"Archived “{running.title}”. Devin's answer could not be read; "
        "a re-read shows it archived." in shown
    )
    assert not Session.objects.filter(session_id=OTHER_SESSION_ID).exists()


# -- a bulk run, on a real worker -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fault", "reread"),
    [
        ("unreadable_body", "works"),
        ("other_session", "works"),
        ("other_org", "works"),
        ("other_org", "fails"),
    ],
)
def test_a_bulk_run_archives_them_all_and_says_so(
    tmp_path: Path,
    fake: FakeDevin,
    acme: Organization,
    operator: Any,
    settings: Any,
    fault: str,
    reread: str,
) -> None:
    settings.RUN_LEASE_SECONDS = float(ENV["DASHBOARD_RUN_LEASE"])
    ids = add_sessions(fake, acme, 3, "nightly")
    rows = Session.objects.filter(org=acme).count()
    fake.inject(fault, count=None, method="POST", path="/archive")
    if reread == "fails":
        fake.inject("status", status=500, count=None, method="GET")
    run_pk = start_run(operator, ids)

    with worker(tmp_path, **ENV):
        wait_for(lambda: BulkRun.objects.get(pk=run_pk).state == "done", 60, "the run to end")
    fake.clear_faults()

    assert outcomes(run_pk) == {BulkItem.Outcome.OK: 3}
    assert_no_phantom(acme, rows)
    targets = Session.objects.filter(pk__in=ids)
    assert all(s.is_archived for s in targets)
    # Re-read: the sessions as Devin has them (asleep); not: only marked archived.
    assert {s.status for s in targets} == {"suspended" if reread == "works" else "running"}
    events = AuditEvent.objects.filter(action="archive")
    assert sorted(events.values_list("session_id", flat=True)) == sorted(
        s.session_id for s in targets
    )
    for event in events:
        assert event.outcome == "ok"
        assert event.detail.startswith(f"bulk #{run_pk}: {ACCEPTED}{FAULTS[fault]}"), event.detail
    client = Client()
    client.force_login(operator)
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Done: 3 archived, 0 failed of 3." in words(page)
