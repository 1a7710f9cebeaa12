"""Terminate through the one door: from the row, the session page and in bulk."""

from __future__ import annotations

import time
from html import unescape
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from dashboard import actions, sync
from dashboard.models import ActionAttempt, AuditEvent, BulkRun, Session
from tests.workers import run_queued_tasks

HX = {"HX-Request": "true"}

# Every error kind, as the fake serves it, and words the row must show.
FAULTS: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "status", "status": 401}, "was rejected (401)", "failed"),
    ({"kind": "status", "status": 403}, "(403)", "failed"),
    ({"kind": "status", "status": 404}, "(404)", "failed"),
    ({"kind": "status", "status": 409}, "(409)", "failed"),
    ({"kind": "status", "status": 422}, "(422)", "failed"),
    ({"kind": "429", "retry_after": "30"}, "Try again in 30 seconds", "failed"),
    ({"kind": "status", "status": 503}, "Sent; Devin answered with an error (HTTP 503)", "unknown"),
    ({"kind": "hang", "seconds": 10}, "Sent; Devin did not answer in time", "unknown"),
]
FAULT_IDS = [f["kind"] + str(f.get("status", "")) for f, _, _ in FAULTS]


@pytest.fixture
def running(fake: Any, acme: Any) -> Session:
    created = fake.add_session(
        "org-acme", title="Burning ACUs", status="running", status_detail="working"
    )
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(org=acme, session_id=created["session_id"])


@pytest.mark.django_db
def test_terminate_from_the_row_swaps_it_and_audits(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/sessions/{running.pk}/terminate/", headers=HX)
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert html.lstrip().startswith(f'<tr id="session-{running.pk}"')
    assert ">Exit<" in html or "Exit" in html
    assert "Terminate<span" not in html  # an ended session offers no terminate
    stored = Session.objects.get(pk=running.pk)
    assert stored.status == "exit"
    assert fake.get("org-acme", running.session_id)["status"] == "exit"
    event = AuditEvent.objects.get(action="terminate")
    assert (event.actor, event.outcome, event.session_id) == (operator, "ok", running.session_id)


@pytest.mark.django_db
def test_the_row_and_the_page_ask_to_confirm_that_it_cannot_be_undone(
    client: Client, running: Session, operator: Any
) -> None:
    client.force_login(operator)
    listing = unescape(client.get("/?status=running").content.decode())
    assert f'hx-post="/sessions/{running.pk}/terminate/"' in listing
    assert "Terminate “Burning ACUs”? It stops for good: this cannot be undone." in listing
    page = unescape(client.get(f"/sessions/{running.pk}/").content.decode())
    assert "Terminate “Burning ACUs”? It stops for good: this cannot be undone." in page


@pytest.mark.django_db
def test_terminate_without_htmx_redirects_with_a_flash(
    client: Client, running: Session, operator: Any
) -> None:
    client.force_login(operator)
    page = f"/sessions/{running.pk}/"
    response = client.post(f"{page}terminate/", {"next": page}, follow=True)
    assert response.redirect_chain == [(page, 302)]
    assert "Terminated “Burning ACUs”." in unescape(response.content.decode())


@pytest.mark.django_db
def test_a_viewer_cannot_terminate(client: Client, running: Session, viewer: Any) -> None:
    client.force_login(viewer)
    assert client.post(f"/sessions/{running.pk}/terminate/", headers=HX).status_code == 403
    assert "/terminate/" not in client.get("/").content.decode()
    assert Session.objects.get(pk=running.pk).status == "running"
    assert not ActionAttempt.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "words", "outcome"), FAULTS, ids=FAULT_IDS)
def test_every_error_kind_is_said_in_the_row_changes_nothing_and_is_audited(
    client: Client,
    running: Session,
    operator: Any,
    fake: Any,
    settings: Any,
    fault: dict[str, Any],
    words: str,
    outcome: str,
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    before = model_to_dict(Session.objects.get(pk=running.pk))
    client.force_login(operator)
    options = {k: v for k, v in fault.items() if k != "kind"}
    fake.inject(fault["kind"], count=None, method="DELETE", **options)
    started = time.monotonic()
    response = client.post(f"/sessions/{running.pk}/terminate/", headers=HX)
    fake.clear_faults()
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    html = unescape(response.content.decode())
    headline = "Terminate not confirmed." if outcome == "unknown" else "Terminate failed."
    assert f'role="alert"><strong>{headline}</strong>' in html
    assert words in html, html
    assert model_to_dict(Session.objects.get(pk=running.pk)) == before
    event = AuditEvent.objects.get(action="terminate")
    assert (event.outcome, event.session_id) == (outcome, running.session_id)
    assert event.detail


@pytest.mark.django_db
def test_a_terminate_left_open_is_settled_by_its_reread(
    running: Session, operator: Any, fake: Any
) -> None:
    # As if the process died after Devin terminated it: the attempt is open, the session exited.
    attempt = ActionAttempt.objects.create(
        org=running.org, session=running, devin_id=running.session_id, action="terminate"
    )
    running.org.client().terminate_session(running.session_id)
    assert actions.settle_by_reread(attempt)
    event = AuditEvent.objects.get(action="terminate")
    assert event.outcome == "ok" and "terminated" in event.detail
    assert Session.objects.get(pk=running.pk).status == "exit"


@pytest.mark.django_db(transaction=True)
def test_bulk_terminate_stops_the_selected_sessions_only(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    for n in range(6):
        fake.add_session("org-acme", title=f"Runaway {n}", status="running")
    sync.sync_org(acme)
    client.force_login(operator)
    chosen = list(Session.objects.filter(title__startswith="Runaway").order_by("pk")[:4])
    others = {s.pk: s.status for s in Session.objects.exclude(pk__in=[c.pk for c in chosen])}
    response = client.post(
        "/sessions/bulk-terminate/", {"scope": "selected", "ids": [s.pk for s in chosen]}
    )
    assert response.status_code == 302
    run_pk = int(response["Location"].rstrip("/").split("/")[-1])
    run_queued_tasks()
    run = BulkRun.objects.get(pk=run_pk)
    assert (run.state, run.action) == (BulkRun.State.DONE, "terminate")
    assert {s.status for s in Session.objects.filter(pk__in=[c.pk for c in chosen])} == {"exit"}
    assert {fake.get("org-acme", s.session_id)["status"] for s in chosen} == {"exit"}
    assert {s.pk: s.status for s in Session.objects.exclude(pk__in=[c.pk for c in chosen])} == (
        others
    )
    assert AuditEvent.objects.filter(action="terminate", outcome="ok").count() == 4
    summary = AuditEvent.objects.get(action="bulk_terminate_finished")
    assert summary.detail == f"bulk #{run_pk}: 4 terminated, 0 not, of 4"
    page = client.get(f"/bulk/{run_pk}/").content.decode()
    assert "Bulk terminate" in page and "4 terminated, 0 failed" in page


@pytest.mark.django_db(transaction=True)
def test_bulk_terminate_reports_failures_per_item(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    fake.add_session("org-acme", title="Runaway", status="running")
    sync.sync_org(acme)
    client.force_login(operator)
    target = Session.objects.get(title="Runaway")
    fake.inject("status", status=409, count=None, method="DELETE")
    response = client.post("/sessions/bulk-terminate/", {"ids": [target.pk]})
    run_queued_tasks()
    fake.clear_faults()
    run_pk = int(response["Location"].rstrip("/").split("/")[-1])
    page = unescape(client.get(f"/bulk/{run_pk}/").content.decode())
    assert "0 terminated, 1 failed" in page
    assert "(409)" in page
    assert Session.objects.get(pk=target.pk).status == "running"
    assert AuditEvent.objects.get(action="terminate").outcome == "failed"
