"""dashboard.actions, the one door for every action on a session: the attempt is recorded before
Devin is called, and every attempt is settled with one audit event, by its own process or by
recovery re-reading the session. Over real HTTP to the fake Devin API.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from dashboard import actions, answers, devin, sync
from dashboard.models import ActionAttempt, AuditEvent, Organization, Session
from tests.workers import wait_for

HX = {"HX-Request": "true"}


@pytest.fixture
def running(fake: Any, acme: Organization) -> Session:
    created = fake.add_session("org-acme", title="Nightly build", status="running")
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(org=acme, session_id=created["session_id"])


def open_attempt(session: Session, operator: Any, minutes_ago: float, **fields: Any) -> Any:
    """An attempt as a process killed after sending it leaves it."""
    return ActionAttempt.objects.create(
        org=session.org,
        session=session,
        devin_id=session.session_id,
        action="archive",
        actor=operator,
        actor_name=operator.username,
        ip="192.0.2.7",
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_the_attempt_is_committed_before_devin_is_called(
    running: Session, operator: Any, fake: Any, settings: Any
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 3.0
    fake.inject("hang", count=None, seconds=30, method="POST")
    client = Client()
    client.force_login(operator)

    def archive() -> None:
        try:
            client.post(f"/sessions/{running.pk}/archive/", headers=HX)
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=archive)
    thread.start()
    try:
        # Seen from this thread's own connection while the archive waits on Devin: committed.
        wait_for(lambda: fake.in_flight == 1, 3, "the archive to reach the fake")
        attempt = ActionAttempt.objects.get()
        assert (attempt.action, attempt.devin_id, attempt.actor) == (
            "archive",
            running.session_id,
            operator,
        )
        assert attempt.settled_at is None and attempt.ip == "127.0.0.1"
        assert not AuditEvent.objects.filter(action="archive").exists()
    finally:
        thread.join()
        fake.clear_faults()
    attempt.refresh_from_db()
    assert attempt.outcome == "unknown" and attempt.settled_at is not None
    assert AuditEvent.objects.filter(action="archive", outcome="unknown").count() == 1


@pytest.mark.django_db
def test_can_manage_is_noted_both_ways(
    running: Session, operator: Any, fake: Any, acme: Organization
) -> None:
    fake.inject("status", status=403, method="POST", path="/archive")
    result = actions.perform(running, "archive", actor=operator)
    assert result.outcome is actions.Outcome.REFUSED
    assert Organization.objects.get(pk=acme.pk).can_manage is False
    result = actions.perform(Session.objects.get(pk=running.pk), "archive", actor=operator)
    assert result.done and result.session.is_archived
    assert Organization.objects.get(pk=acme.pk).can_manage is True


@pytest.mark.django_db
def test_rate_limited_carries_retry_after(running: Session, operator: Any, fake: Any) -> None:
    fake.inject("429", method="POST", path="/archive", retry_after="100000")
    result = actions.perform(running, "archive", actor=operator)
    assert result.outcome is actions.Outcome.RATE_LIMITED
    assert result.retry_after == 100000
    event = AuditEvent.objects.get(action="archive")
    assert event.outcome == "failed" and "(429)" in event.detail


def test_an_answer_about_another_session_is_not_trusted() -> None:
    asked = Session(session_id="devin-" + "a" * 32, org=Organization(org_id="org-acme"))
    other = devin.parse_session(
        {
            "session_id": "devin-" + "b" * 32,
            "url": "https://app.devin.ai/sessions/b",
            "status": "suspended",
            "tags": [],
            "org_id": "org-acme",
            "created_at": 1_700_000_000,
            "updated_at": 1_700_000_600,
            "acus_consumed": 0,
            "pull_requests": [],
            "is_archived": True,
        }
    )
    with pytest.raises(devin.BadResponse) as caught:
        answers.check_answer(asked, other)
    # Devin answered 2xx: it accepted the action, though this answer is not stored.
    assert caught.value.accepted and caught.value.maybe_applied
    assert "b" * 32 in caught.value.detail


# -- recovery: attempts left open by a process that died -----------------------------------------


@pytest.mark.django_db
def test_an_open_attempt_that_reached_devin_is_settled_ok(
    running: Session, operator: Any, fake: Any
) -> None:
    fake.store.archive("org-acme", running.session_id)  # the call landed, then the process died
    attempt = open_attempt(running, operator, minutes_ago=5)

    assert actions.settle_open_attempts() == 1

    attempt.refresh_from_db()
    assert attempt.outcome == "ok" and attempt.settled_at is not None
    event = AuditEvent.objects.get(action="archive")
    assert (event.actor, event.outcome, event.session_id, event.ip) == (
        operator,
        "ok",
        running.session_id,
        "192.0.2.7",
    )
    assert "a re-read shows it archived" in event.detail
    assert Session.objects.get(pk=running.pk).is_archived  # what the re-read found is stored
    assert actions.settle_open_attempts() == 0  # settled once: one event
    assert AuditEvent.objects.filter(action="archive").count() == 1


@pytest.mark.django_db
def test_an_open_attempt_that_did_not_land_is_settled_failed(
    running: Session, operator: Any
) -> None:
    attempt = open_attempt(running, operator, minutes_ago=5)

    assert actions.settle_open_attempts() == 1

    attempt.refresh_from_db()
    assert attempt.outcome == "failed"
    event = AuditEvent.objects.get(action="archive")
    assert event.outcome == "failed" and "not archived" in event.detail


@pytest.mark.django_db
def test_a_young_open_attempt_is_left_to_its_process(running: Session, operator: Any) -> None:
    # Younger than deadline + lease: its process may still be waiting for Devin.
    open_attempt(running, operator, minutes_ago=0.5)
    assert actions.settle_open_attempts() == 0
    assert ActionAttempt.objects.get().settled_at is None


@pytest.mark.django_db
def test_when_the_reread_fails_the_attempt_waits_then_is_settled_unknown(
    running: Session, operator: Any, fake: Any
) -> None:
    fake.inject("status", status=503, count=None, method="GET")
    recent = open_attempt(running, operator, minutes_ago=5)
    old = open_attempt(running, operator, minutes_ago=61)

    settled = actions.settle_open_attempts()

    recent.refresh_from_db()
    old.refresh_from_db()
    # The recent one waits for a pass when Devin answers; the hour-old one is settled unknown.
    assert recent.settled_at is None
    assert settled == 1 and old.outcome == "unknown"
    event = AuditEvent.objects.get(action="archive")
    assert event.outcome == "unknown" and "next sync will show the result" in event.detail
    fake.clear_faults()
    assert actions.settle_open_attempts() == 1
    recent.refresh_from_db()
    assert recent.outcome == "failed"
