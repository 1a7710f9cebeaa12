from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboard import filters, sync
from dashboard.models import ActionAttempt, AuditEvent, Organization, Session

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def running(fake: Any, acme: Any) -> Session:
    """A running, categorised acme session with PRs, as the dashboard knows it."""
    created = fake.add_session(
        "org-acme",
        title="Fix flaky payments test",
        status="running",
        status_detail="working",
        category="bug_fixing",
        subcategory="Flaky tests",
        pull_requests=[
            {"pr_url": "https://github.com/acme/pay/pull/7", "pr_state": "open"},
            {"pr_url": "https://github.com/acme/pay/pull/8", "pr_state": "merged"},
        ],
        is_archived=False,
    )
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(org=acme, session_id=created["session_id"])


def snapshot(session: Session) -> dict[str, Any]:
    return model_to_dict(Session.objects.get(pk=session.pk))


def test_archive_swaps_the_row_with_fresh_badges(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="session-{running.pk}"')
    # A suspension asked for is a normal end: calm, not a warning.
    assert 'class="badge badge-neutral">Suspended<' in html
    assert ">User request</span>" in html  # the re-read's fresh status_detail
    assert "archived-marker" in html
    assert ">Unarchive<" in html.replace("\n", "").replace("  ", "") or "Unarchive" in html
    assert "Bug fixing" in html
    assert 'href="https://github.com/acme/pay/pull/7"' in html
    assert " · Merged<" in html
    # The nav counter (sessions that need attention) comes along, counted afresh.
    attention = filters.attention_count(Session.objects.all())
    assert f'hx-swap-oob="true">{attention}<' in html
    stored = Session.objects.get(pk=running.pk)
    assert stored.is_archived
    assert stored.status == "suspended"
    assert (stored.category, stored.subcategory) == ("bug_fixing", "Flaky tests")
    assert fake.get("org-acme", running.session_id)["is_archived"] is True
    event = AuditEvent.objects.get(action="archive")
    assert (event.actor, event.outcome, event.session_id) == (operator, "ok", running.session_id)
    assert Organization.objects.get(pk=running.org_id).can_manage is True


def test_an_archive_click_reads_the_org_with_the_session_only(
    client: Client, running: Session, operator: Any
) -> None:
    """The org comes with the session (access check, Devin client, the row rendered after the
    store) and the counter counts through a subquery of the visible orgs: no query reads the
    organization table on its own. Each such read was a round trip and ~0.5 ms of CPU a click."""
    client.force_login(operator)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    assert response.status_code == 200
    assert "Acme" in response.content.decode()  # the org's name, in the swapped row
    statements = [q["sql"] for q in queries.captured_queries]
    assert [s for s in statements if s.startswith('SELECT "dashboard_organization"')] == []


def test_the_row_after_an_archive_is_the_one_its_store_wrote(
    client: Client, running: Session, operator: Any
) -> None:
    """The row rendered is the one the store wrote in the click's transaction, not read back:
    the only SELECT of a session by its pk is the access check's."""
    client.force_login(operator)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    assert response.status_code == 200
    by_pk = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and '"dashboard_session"."id" = ' in q["sql"]
    ]
    assert len(by_pk) == 1
    shown = response.context["row"]
    assert shown.pk == running.pk
    assert model_to_dict(shown) == snapshot(running)
    assert shown.is_archived and shown.status == "suspended"


def test_the_counter_after_an_archive_counts_only_the_users_orgs(
    client: Client, running: Session, operator: Any, fake: Any, globex: Any
) -> None:
    """The counter's query is compiled once per user: an operator of acme counts acme's only,
    and each count is afresh (a session needing attention added later is counted)."""
    for _ in range(3):
        fake.add_session("org-globex", status="error", is_archived=False)
    assert sync.sync_org(globex).state == "ok"
    client.force_login(operator)
    acme_only = Session.objects.filter(org=running.org)
    response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    attention = filters.attention_count(acme_only)
    assert attention != filters.attention_count(Session.objects.all())
    assert f'hx-swap-oob="true">{attention}<' in response.content.decode()
    fake.add_session("org-acme", status="error", is_archived=False)
    assert sync.sync_org(running.org).state == "ok"
    response = client.post(f"/sessions/{running.pk}/unarchive/", headers=HX)
    again = filters.attention_count(acme_only)
    assert again != attention
    assert f'hx-swap-oob="true">{again}<' in response.content.decode()


def test_unarchive_swaps_back(client: Client, running: Session, operator: Any) -> None:
    client.force_login(operator)
    client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    response = client.post(f"/sessions/{running.pk}/unarchive/", headers=HX)
    html = response.content.decode()
    assert "archived-marker" not in html
    assert "Archive" in html and "Unarchive" not in html
    assert not Session.objects.get(pk=running.pk).is_archived
    assert AuditEvent.objects.filter(action="unarchive", outcome="ok").count() == 1


def test_archive_without_htmx_redirects_with_a_flash(
    client: Client, running: Session, operator: Any
) -> None:
    client.force_login(operator)
    response = client.post(
        f"/sessions/{running.pk}/archive/", {"next": "/?status=running"}, follow=True
    )
    assert response.redirect_chain == [("/?status=running", 302)]
    assert "Archived “Fix flaky payments test”." in response.content.decode()
    assert Session.objects.get(pk=running.pk).is_archived


def test_when_the_reread_fails_the_archive_still_shows_with_known_values(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    fake.inject("status", status=503, count=None, method="GET")
    response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    fake.clear_faults()
    html = response.content.decode()
    assert "archived-marker" in html
    stored = Session.objects.get(pk=running.pk)
    assert stored.is_archived and stored.category == "bug_fixing"
    assert stored.status == "suspended"
    assert stored.status_detail == ""  # "working" no longer holds for a suspended session


# Devin refused (4xx): the row says so, and that nothing was changed.
REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"kind": "status", "status": 401}, "was rejected (401)"),
    ({"kind": "status", "status": 403}, "(403)"),
    ({"kind": "status", "status": 404}, "404"),
    ({"kind": "status", "status": 409}, "409"),
    ({"kind": "429", "retry_after": "30"}, "Try again in 30 seconds"),
    ({"kind": "429"}, "429"),
]
# Sent, but no usable answer: it may have been applied, so the row must not say it was not.
# (A 2xx whose body cannot be used is Devin accepting it: tests/test_unreadable_answers.py.)
UNANSWERED: list[tuple[dict[str, Any], str]] = [
    ({"kind": "status", "status": 500}, "Sent; Devin answered with an error (HTTP 500)"),
    ({"kind": "status", "status": 503}, "Sent; Devin answered with an error (HTTP 503)"),
    ({"kind": "drop"}, "Sent; the connection broke before Devin answered"),
]


def _ids(cases: list[tuple[dict[str, Any], str]]) -> list[str]:
    return [f["kind"] + str(f.get("status", "")) + str(f.get("retry_after", "")) for f, _ in cases]


def archive_with(
    fault: dict[str, Any], client: Client, running: Session, operator: Any, fake: Any
) -> str:
    """The row an htmx archive answers while Devin's archive endpoint has `fault`, as text."""
    client.force_login(operator)
    options: dict[str, Any] = {k: v for k, v in fault.items() if k != "kind"}
    fake.inject(fault["kind"], count=None, method="POST", path="/archive", **options)
    response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    fake.clear_faults()
    assert response.status_code == 200
    return unescape(response.content.decode())


@pytest.mark.parametrize(("fault", "words"), REFUSALS, ids=_ids(REFUSALS))
def test_a_refusal_leaves_the_row_and_says_nothing_was_changed(
    client: Client, running: Session, operator: Any, fake: Any, fault: dict[str, Any], words: str
) -> None:
    before = snapshot(running)
    html = archive_with(fault, client, running, operator, fake)
    assert 'class="row-error" role="alert"><strong>Archive failed.</strong>' in html
    assert words.lower() in html.lower(), html
    assert "Nothing was changed." in html
    if fault.get("status") == 403:
        # Devin refused the permission: the org is now known to be view-only, so no Retry.
        assert "Retry" not in html and "View only" in html
        assert "may only view sessions" in html
    else:
        assert "Retry" in html
    assert snapshot(running) == before
    event = AuditEvent.objects.get(action="archive")
    assert event.outcome == "failed" and event.detail
    attempt = ActionAttempt.objects.get()
    assert (attempt.outcome, attempt.devin_id) == ("failed", running.session_id)
    assert attempt.settled_at is not None


@pytest.mark.parametrize(("fault", "words"), UNANSWERED, ids=_ids(UNANSWERED))
def test_sent_without_an_answer_says_so_and_audits_unknown(
    client: Client, running: Session, operator: Any, fake: Any, fault: dict[str, Any], words: str
) -> None:
    before = snapshot(running)
    html = archive_with(fault, client, running, operator, fake)
    assert 'class="row-error" role="alert"><strong>Archive not confirmed.</strong>' in html
    assert words in html, html
    assert "the next sync will show the result." in html
    assert "Nothing was changed" not in html
    # A worker re-reads the org; the live poll brings the row.
    assert "Devin may have done it; re-reading…" in html
    assert Organization.objects.get(pk=running.org_id).live_refreshed_at is not None
    assert snapshot(running) == before  # what the dashboard knew, until a sync says otherwise
    event = AuditEvent.objects.get(action="archive")
    assert (event.outcome, event.session_id) == ("unknown", running.session_id)
    assert words in event.detail
    assert ActionAttempt.objects.get().outcome == "unknown"


def test_an_archive_that_never_reached_devin_says_so(
    client: Client, running: Session, operator: Any, acme: Organization
) -> None:
    # Nothing listens on port 9 of loopback: the connection is refused, nothing is sent.
    Organization.objects.filter(pk=acme.pk).update(base_url="http://127.0.0.1:9")
    client.force_login(operator)
    html = client.post(f"/sessions/{running.pk}/archive/", headers=HX).content.decode()
    assert "<strong>Archive failed.</strong>" in html
    assert "refused the connection" in html
    assert "It did not reach Devin." in html and "Nothing was changed" not in html
    assert AuditEvent.objects.get(action="archive").outcome == "failed"


def test_a_hung_devin_answers_within_the_deadline(
    client: Client, running: Session, operator: Any, fake: Any, settings: Any
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    settings.DEVIN_READ_TIMEOUT = 20.0  # the deadline, not the read timeout, must end it
    client.force_login(operator)
    fake.inject("hang", count=None, seconds=30)
    started = time.monotonic()
    response = client.post(f"/sessions/{running.pk}/archive/", headers=HX)
    elapsed = time.monotonic() - started
    fake.clear_faults()
    assert elapsed < 1.5 + 1.0, elapsed
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sent; Devin did not answer in time; the next sync will show the result." in html
    assert AuditEvent.objects.get(action="archive").outcome == "unknown"


def test_a_slow_reread_is_cut_by_the_deadline_and_the_answer_stored(
    client: Client, running: Session, operator: Any, fake: Any, settings: Any
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    client.force_login(operator)
    fake.inject("hang", count=None, seconds=30, method="GET")
    started = time.monotonic()
    html = client.post(f"/sessions/{running.pk}/archive/", headers=HX).content.decode()
    assert time.monotonic() - started < 1.5 + 1.0
    fake.clear_faults()
    assert "archived-marker" in html and "row-error" not in html
    assert Session.objects.get(pk=running.pk).is_archived
    assert AuditEvent.objects.get(action="archive").outcome == "ok"


def test_forbidden_is_remembered_on_the_org(
    client: Client, running: Session, operator: Any, fake: Any, acme: Any
) -> None:
    acme.set_token(fake.tokens["org-acme"]["view"])
    acme.save()
    client.force_login(operator)
    html = client.post(f"/sessions/{running.pk}/archive/", headers=HX).content.decode()
    assert "ManageOrgSessions" in html
    assert Organization.objects.get(pk=acme.pk).can_manage is False
    assert not Session.objects.get(pk=running.pk).is_archived


def test_failure_without_htmx_flashes_the_reason(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    fake.inject("status", status=403, method="POST")
    response = client.post(f"/sessions/{running.pk}/archive/", follow=True)
    assert "Could not archive" in response.content.decode()
    assert not Session.objects.get(pk=running.pk).is_archived


def test_viewer_forged_post_is_forbidden(
    client: Client, running: Session, viewer: Any, fake: Any
) -> None:
    client.force_login(viewer)
    page = client.get("/?view=all").content.decode()
    assert running.session_id in page
    assert "/archive/" not in page
    fake.reset_stats()
    assert client.post(f"/sessions/{running.pk}/archive/", headers=HX).status_code == 403
    assert client.post(f"/sessions/{running.pk}/unarchive/").status_code == 403
    assert not any(path.endswith("/archive") for _, path in fake.calls)
    assert not Session.objects.get(pk=running.pk).is_archived


def test_outsider_gets_404(client: Client, running: Session, outsider: Any) -> None:
    client.force_login(outsider)
    assert client.post(f"/sessions/{running.pk}/archive/", headers=HX).status_code == 404
    assert client.get(f"/sessions/{running.pk}/row/").status_code == 404


def test_csrf_is_enforced(running: Session, operator: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(f"/sessions/{running.pk}/archive/", headers=HX).status_code == 403
    page = client.get("/").content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert token is not None
    response = client.post(
        f"/sessions/{running.pk}/archive/", headers={**HX, "X-CSRFToken": token.group(1)}
    )
    assert response.status_code == 200
    assert Session.objects.get(pk=running.pk).is_archived


def test_hostile_strings_render_inert(client: Client, fake: Any, acme: Any, operator: Any) -> None:
    fake.add_session(
        "org-acme",
        title='<script>alert("t")</script>',
        tags=["<img src=x onerror=alert(1)>"],
        url="javascript:alert(1)",
        pull_requests=[{"pr_url": "javascript:alert(2)", "pr_state": "<b>open</b>"}],
        status="running",
        is_archived=False,
    )
    sync.sync_org(acme)
    client.force_login(operator)
    html = client.get("/?view=all").content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html


def test_an_error_row_can_be_dismissed(
    client: Client, running: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    fake.inject("status", status=500, method="POST")
    html = client.post(f"/sessions/{running.pk}/archive/", headers=HX).content.decode()
    assert f'hx-get="/sessions/{running.pk}/row/"' in html
    row = client.get(f"/sessions/{running.pk}/row/", headers=HX).content.decode()
    assert "row-error" not in row and "Archive" in row
