"""An org saved before a base-URL rule landed is held to it when it is used: the client is never
built for a refused base URL, so no request goes to it; the org page, Test connection, a sync
and an action all say why."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from dashboard import devin, sync, wording
from dashboard.models import Organization, Session, SyncRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_tracebacks")]

TOKEN = "cog_" + "x" * 40
# As an old release could have saved them: no check at the time.
REFUSED = {
    "http://169.254.169.254": "link-local or cloud metadata address",
    "https://[fe80::1]": "link-local or cloud metadata address",
    "https://metadata.google.internal/computeMetadata": "link-local or cloud metadata address",
    "http://api.example.com": "Plain http:// is allowed only for a test server",
}


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(html)).split())


@pytest.mark.parametrize(("base_url", "reason"), REFUSED.items())
def test_the_client_refuses_it_before_any_request(base_url: str, reason: str) -> None:
    with pytest.raises(devin.Misconfigured) as caught:
        devin.DevinClient(base_url=base_url, org_id="org-acme", token=TOKEN, label="Acme")
    said = wording.describe(caught.value)
    assert said.startswith(f"The API base URL {base_url!r} for Acme (org-acme) is refused")
    assert "nothing was sent to it" in said and reason in said
    assert TOKEN not in said


def test_a_password_in_a_refused_url_is_never_repeated() -> None:
    with pytest.raises(devin.Misconfigured) as caught:
        devin.DevinClient(
            base_url="http://admin:hunter2@169.254.169.254", org_id="org-acme", token=TOKEN
        )
    assert "hunter2" not in wording.describe(caught.value)


@pytest.fixture
def legacy(acme: Organization, running: Session) -> Organization:
    """Acme, with a base URL saved before the link-local check landed."""
    Organization.objects.filter(pk=acme.pk).update(base_url="http://169.254.169.254")
    return Organization.objects.get(pk=acme.pk)


@pytest.fixture
def running(fake: Any, acme: Organization) -> Session:
    created = fake.add_session("org-acme", title="Nightly build", status="running")
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(org=acme, session_id=created["session_id"])


def test_the_sync_fails_with_the_reason(legacy: Organization) -> None:
    run = sync.sync_org(legacy)
    assert run.state == SyncRun.State.FAILED
    assert "link-local or cloud metadata address" in run.error
    assert "nothing was sent to it" in run.error


def test_the_org_page_and_test_connection_say_why(
    client: Client, admin: Any, legacy: Organization
) -> None:
    client.force_login(admin)
    page = words(client.get("/orgs/").content.decode())
    assert "Base URL refused Nothing is sent to it. This is a link-local" in page
    tested = words(
        client.post(f"/orgs/{legacy.pk}/test/", headers={"HX-Request": "true"}).content.decode()
    )
    assert "is refused, so nothing was sent to it: This is a link-local" in tested
    legacy.refresh_from_db()
    assert legacy.health == Organization.Health.ERROR


def test_an_action_says_it_did_not_reach_devin(
    client: Client, operator: Any, legacy: Organization, running: Session
) -> None:
    client.force_login(operator)
    html = client.post(f"/sessions/{running.pk}/archive/", headers={"HX-Request": "true"})
    assert html.status_code == 200
    shown = words(html.content.decode())
    assert "Archive failed." in shown and "It did not reach Devin." in shown
    assert "is refused, so nothing was sent to it" in shown
    assert Session.objects.get(pk=running.pk).is_archived is False


def test_a_fine_base_url_is_not_flagged(client: Client, admin: Any, acme: Organization) -> None:
    client.force_login(admin)
    assert acme.base_url_refused is None
    assert "Base URL refused" not in client.get("/orgs/").content.decode()
