from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from dashboard import crypto
from dashboard.models import AuditEvent, Membership, Organization, Session, SyncRun

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
GOOD_TOKEN = "cog_" + "Gq7" * 13 + "x"  # 40 characters after cog_, like the fake's


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


def add_form(fake: Any, **overrides: str) -> dict[str, str]:
    data = {
        "name": "Initech",
        "org_id": "org-initech",
        "base_url": fake.url,
        "token": fake.tokens["org-initech"]["manage"],
    }
    data.update(overrides)
    return data


def make_session(org: Organization, n: int) -> Session:
    now = datetime.now(UTC)
    return Session.objects.create(
        org=org, session_id=f"devin-{n:04x}", status="running", created_at=now, updated_at=now
    )


def text(response: Any) -> str:
    return response.content.decode()


# -- adding ------------------------------------------------------------------------------------


def test_admin_adds_an_org_with_an_encrypted_token(admin_client: Client, fake: Any) -> None:
    token = fake.tokens["org-initech"]["manage"]
    response = admin_client.post("/orgs/add/", add_form(fake), follow=True)
    assert response.redirect_chain[-1][0] == "/orgs/"
    assert "Added Initech" in text(response)
    org = Organization.objects.get(org_id="org-initech")
    assert org.base_url == fake.url
    assert org.token_ciphertext.startswith("t1:")
    assert token not in org.token_ciphertext
    assert crypto.decrypt(org.token_ciphertext) == token
    assert org.token_last4 == token[-4:]
    assert f"cog_…{token[-4:]}" in text(response)
    event = AuditEvent.objects.get(action="credential_created")
    assert (event.org, event.actor_name) == (org, "admin")
    assert token not in event.detail


def test_adding_checks_the_token_and_queues_the_first_sync(
    admin_client: Client, fake: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/orgs/add/", add_form(fake), follow=True)
    page = text(response)
    assert "Added Initech; its first sync is queued" in page
    assert "can view sessions (as " in page
    org = Organization.objects.get(org_id="org-initech")
    assert org.health == Organization.Health.OK and org.health_checked_at is not None
    assert org.can_manage is None  # a 404 for the probe says nothing about the permission
    run = SyncRun.objects.get(org=org)
    assert run.state == SyncRun.State.QUEUED and run.task_id
    assert DBTaskResult.objects.filter(id=run.task_id).exists()
    tested = AuditEvent.objects.get(action="credential_tested", org=org)
    assert tested.detail.startswith("can view sessions")


def test_adding_with_another_orgs_token_is_refused_and_saves_nothing(
    admin_client: Client, fake: Any
) -> None:
    token = fake.tokens["org-globex"]["manage"]
    response = admin_client.post("/orgs/add/", add_form(fake, token=token))
    assert response.status_code == 200
    page = text(response)
    assert "This token belongs to another organization (org-globex), not org-initech" in page
    assert "Nothing was saved" in page
    assert token not in page
    assert not Organization.objects.exists() and not SyncRun.objects.exists()


def test_adding_with_an_invalid_token_is_refused(admin_client: Client, fake: Any) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake, token=GOOD_TOKEN), headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert "rejected (401): Devin does not accept this token" in page
    assert 'id="id_token_error"' in page  # under the token field, for screen readers too
    assert "Save without checking" not in page  # only offered when Devin cannot be reached
    assert not Organization.objects.exists()


def test_adding_with_a_view_only_token_warns_and_saves_it_as_view_only(
    admin_client: Client, fake: Any
) -> None:
    token = fake.tokens["org-initech"]["view"]
    response = admin_client.post("/orgs/add/", add_form(fake, token=token), follow=True)
    page = text(response)
    assert "Added Initech; its first sync is queued" in page
    assert "Its token may only view sessions" in page
    org = Organization.objects.get(org_id="org-initech")
    assert (org.health, org.can_manage) == (Organization.Health.VIEW_ONLY, False)
    assert "cannot archive (lacks ManageOrgSessions)" in org.health_detail
    assert SyncRun.objects.filter(org=org, state=SyncRun.State.QUEUED).exists()
    probe = "/v3/organizations/org-initech/sessions/devin-" + "0" * 32 + "/archive"
    assert ("POST", probe) in fake.calls  # the one manage-only call, on no real session


def test_adding_when_devin_is_unreachable_offers_to_save_without_checking(
    admin_client: Client, fake: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    form = add_form(fake, base_url=closed)
    page = text(admin_client.post("/orgs/add/", form))
    assert "Devin could not be reached to check the token" in page
    assert "refused the connection" in page
    assert 'name="skip_check"' in page and "Save without checking" in page
    assert not Organization.objects.exists()

    response = admin_client.post("/orgs/add/", {**form, "skip_check": "on"}, follow=True)
    page = text(response)
    assert "Added Initech without checking its token; its first sync is queued" in page
    org = Organization.objects.get(org_id="org-initech")
    assert org.health == Organization.Health.UNKNOWN
    assert SyncRun.objects.filter(org=org, state=SyncRun.State.QUEUED).exists()


def test_adding_an_org_requires_a_token(admin_client: Client, fake: Any) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake, token=""))
    assert response.status_code == 200
    assert "Paste the organization&#x27;s service token" in text(response)
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("secretzq9xw", "A Devin token starts with cog_"),
        ("Bearer cog_" + "a" * 40, "A Devin token starts with cog_"),
        ("COG_" + "a" * 40, "A Devin token starts with cog_"),
        ("cog_tooshort", "This does not look like a Devin token"),
        ("cog_" + "a" * 19, "This does not look like a Devin token"),
        ("cog_" + "a" * 201, "This does not look like a Devin token"),
        ("cog_" + "a" * 20 + " " + "b" * 20, "This does not look like a Devin token"),
        ("cog_" + "a" * 20 + "é", "This does not look like a Devin token"),
    ],
)
def test_bad_tokens_are_field_errors_that_never_echo_the_token(
    admin_client: Client, fake: Any, token: str, error: str
) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake, token=token))
    assert response.status_code == 200
    assert error in text(response)
    assert token.strip() not in text(response)
    assert not Organization.objects.exists()


def test_the_fakes_token_format_is_accepted(admin_client: Client, fake: Any) -> None:
    fake.add_token("org-initech", GOOD_TOKEN)
    response = admin_client.post("/orgs/add/", add_form(fake, token=GOOD_TOKEN))
    assert response.status_code == 302
    assert Organization.objects.get().token_last4 == GOOD_TOKEN[-4:]


@pytest.mark.parametrize(
    ("org_id", "error"),
    [
        ("initech", "A Devin org id starts with org-"),
        ("ORG-initech", "A Devin org id starts with org-"),
        ("org-", "After org- an org id has only letters"),
        ("org-ini/../tech", "After org- an org id has only letters"),
        ("org-ini tech", "After org- an org id has only letters"),
        ("", "This field is required"),
    ],
)
def test_bad_org_ids_are_field_errors(
    admin_client: Client, fake: Any, org_id: str, error: str
) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake, org_id=org_id))
    assert response.status_code == 200
    assert error in text(response)
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("base_url", "error"),
    [
        ("ftp://api.devin.ai", "must start with https://"),
        ("api.devin.ai", "must start with https://"),
        ("http://example.com", "Plain http:// is allowed only for a test server"),
        ("http://10.0.0.5:8000", "Plain http:// is allowed only for a test server"),
        ("http://localhost.example.com", "Plain http:// is allowed only for a test server"),
        ("https://", "needs a host name"),
        ("https://user:secret@api.devin.ai", "must not contain a user name or password"),
        ("https://api.devin.ai/?x=1", "must not have a query"),
        ("https://api.devin.ai:99999", "not a usable URL"),
        ("", "This field is required"),
        # Link-local and cloud metadata addresses, whatever the scheme and spelling.
        ("https://169.254.169.254", "link-local or cloud metadata address"),
        ("http://169.254.169.254/latest", "link-local or cloud metadata address"),
        ("https://2852039166", "link-local or cloud metadata address"),
        ("https://0xa9fea9fe", "link-local or cloud metadata address"),
        ("https://169.254.43518", "link-local or cloud metadata address"),
        ("https://[::ffff:169.254.169.254]", "link-local or cloud metadata address"),
        ("https://[fe80::1]:8443", "link-local or cloud metadata address"),
        ("https://[fd00:ec2::254]", "link-local or cloud metadata address"),
        ("https://metadata.google.internal.", "link-local or cloud metadata address"),
    ],
)
def test_bad_base_urls_are_field_errors(
    admin_client: Client, fake: Any, base_url: str, error: str
) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake, base_url=base_url))
    assert response.status_code == 200
    assert error in text(response)
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("base_url", "stored"),
    [
        ("https://api.devin.ai/", "https://api.devin.ai"),
        ("  HTTPS://API.Devin.AI//  ", "https://api.devin.ai"),
        ("https://api.acme.devinenterprise.com", "https://api.acme.devinenterprise.com"),
        ("http://localhost:8123/", "http://localhost:8123"),
        ("http://127.0.0.2:8123", "http://127.0.0.2:8123"),
        ("http://[::1]:8123/", "http://[::1]:8123"),
    ],
)
def test_base_urls_are_normalised(
    admin_client: Client, fake: Any, base_url: str, stored: str
) -> None:
    # Nothing answers at most of these: saved unchecked, as an admin may choose.
    form = add_form(fake, base_url=base_url, skip_check="on")
    response = admin_client.post("/orgs/add/", form)
    assert response.status_code == 302, text(response)
    assert Organization.objects.get().base_url == stored


def test_a_duplicate_org_id_under_one_api_is_a_form_error(
    admin_client: Client, fake: Any, acme: Organization
) -> None:
    response = admin_client.post(
        "/orgs/add/", add_form(fake, org_id="org-acme", base_url=fake.url + "/")
    )
    assert response.status_code == 200
    assert "“Acme” already uses this org id with this API base URL" in text(response)
    assert Organization.objects.count() == 1


def test_the_same_org_id_under_another_api_is_allowed(
    admin_client: Client, fake: Any, acme: Organization
) -> None:
    other = fake.url.replace("127.0.0.1", "localhost")
    token = fake.tokens["org-acme"]["manage"]
    form = add_form(fake, org_id="org-acme", base_url=other, token=token)
    response = admin_client.post("/orgs/add/", form)
    assert response.status_code == 302
    assert Organization.objects.filter(org_id="org-acme").count() == 2


def test_errors_rerender_without_the_submitted_token(admin_client: Client, fake: Any) -> None:
    token = fake.tokens["org-initech"]["manage"]
    response = admin_client.post("/orgs/add/", add_form(fake, org_id="initech"))
    assert response.status_code == 200
    assert "A Devin org id starts with org-" in text(response)
    assert token not in text(response)
    assert 'type="password"' in text(response)


def test_htmx_add_with_errors_returns_the_form_fragment(admin_client: Client, fake: Any) -> None:
    token = fake.tokens["org-initech"]["manage"]
    response = admin_client.post("/orgs/add/", add_form(fake, org_id="nope"), headers=HTMX)
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith("<form")
    assert "<html" not in body
    assert "A Devin org id starts with org-" in body
    assert token not in body


def test_htmx_add_redirects_on_the_client(admin_client: Client, fake: Any) -> None:
    response = admin_client.post("/orgs/add/", add_form(fake), headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/orgs/"
    assert Organization.objects.filter(org_id="org-initech").exists()


# -- listing and editing -----------------------------------------------------------------------


def test_list_shows_health_token_hint_and_session_count(
    admin_client: Client, acme: Organization, globex: Organization
) -> None:
    for n in range(3):
        make_session(acme, n)
    response = admin_client.get("/orgs/")
    body = text(response)
    assert response.status_code == 200
    assert "Acme" in body and "Globex" in body
    assert acme.token_hint in body
    assert "Not checked yet" in body
    assert "unknown until the first archive" in body
    assert '<td data-label="Sessions" class="num">3</td>' in body
    assert crypto.decrypt(acme.token_ciphertext) not in body
    assert acme.token_ciphertext not in body


def test_edit_keeps_the_token_when_left_blank(admin_client: Client, acme: Organization) -> None:
    before = acme.token_ciphertext
    response = admin_client.post(
        f"/orgs/{acme.pk}/edit/",
        {"name": "Acme Corp", "org_id": "org-acme", "base_url": acme.base_url, "token": ""},
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.token_ciphertext) == ("Acme Corp", before)
    assert not AuditEvent.objects.filter(action__startswith="credential").exists()


def test_edit_page_never_shows_the_stored_token(admin_client: Client, acme: Organization) -> None:
    token = crypto.decrypt(acme.token_ciphertext)
    body = text(admin_client.get(f"/orgs/{acme.pk}/edit/"))
    assert "Replace token" in body
    assert acme.token_hint in body
    assert token not in body
    assert acme.token_ciphertext.partition(":")[2][:20] not in body
    # Nor after an error elsewhere in the form, with a new token submitted.
    response = admin_client.post(
        f"/orgs/{acme.pk}/edit/",
        {"name": "", "org_id": "org-acme", "base_url": acme.base_url, "token": GOOD_TOKEN},
    )
    assert response.status_code == 200
    assert "This field is required" in text(response)
    assert token not in text(response)
    assert GOOD_TOKEN not in text(response)


def test_replacing_the_token_is_audited_and_resets_health(
    admin_client: Client, acme: Organization, admin: Any
) -> None:
    acme.health = Organization.Health.OK
    acme.can_manage = True
    acme.save()
    response = admin_client.post(
        f"/orgs/{acme.pk}/edit/",
        {"name": "Acme", "org_id": "org-acme", "base_url": acme.base_url, "token": GOOD_TOKEN},
        follow=True,
    )
    assert "The new token is stored" in text(response)
    acme.refresh_from_db()
    assert crypto.decrypt(acme.token_ciphertext) == GOOD_TOKEN
    assert (acme.token_last4, acme.token_set_by) == (GOOD_TOKEN[-4:], admin)
    assert (acme.health, acme.can_manage) == (Organization.Health.UNKNOWN, None)
    event = AuditEvent.objects.get(action="credential_replaced")
    assert GOOD_TOKEN not in event.detail
    assert event.detail == f"token ending …{GOOD_TOKEN[-4:]}"


def test_a_new_base_url_needs_the_token_again(admin_client: Client, acme: Organization) -> None:
    before = acme.token_ciphertext
    data = {"name": "Acme", "org_id": "org-acme", "base_url": "https://evil.example.com"}
    response = admin_client.post(f"/orgs/{acme.pk}/edit/", {**data, "token": ""})
    assert response.status_code == 200
    assert "Enter the token again to use a new API base URL" in text(response)
    acme.refresh_from_db()
    assert (acme.base_url, acme.token_ciphertext) != ("https://evil.example.com", before)
    response = admin_client.post(f"/orgs/{acme.pk}/edit/", {**data, "token": GOOD_TOKEN})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.base_url == "https://evil.example.com"


def test_htmx_edit_redirects_on_the_client(admin_client: Client, acme: Organization) -> None:
    response = admin_client.post(
        f"/orgs/{acme.pk}/edit/",
        {"name": "Acme 2", "org_id": "org-acme", "base_url": acme.base_url},
        headers=HTMX,
    )
    assert response["HX-Redirect"] == "/orgs/"
    acme.refresh_from_db()
    assert acme.name == "Acme 2"


# -- removing ----------------------------------------------------------------------------------


def test_remove_confirmation_says_what_happens_to_the_sessions(
    admin_client: Client, acme: Organization
) -> None:
    for n in range(4):
        make_session(acme, n)
    body = text(admin_client.get(f"/orgs/{acme.pk}/delete/"))
    assert "4 synced sessions</strong> are deleted from the dashboard" in body
    assert "Nothing is deleted in Devin" in body
    assert Organization.objects.filter(pk=acme.pk).exists()


def test_remove_deletes_the_org_its_sessions_and_roles(
    admin_client: Client, acme: Organization, globex: Organization, viewer: Any
) -> None:
    make_session(acme, 1)
    make_session(globex, 2)
    response = admin_client.post(f"/orgs/{acme.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/orgs/"
    assert "Removed Acme and its 1 synced session from the dashboard" in text(response)
    assert list(Organization.objects.all()) == [globex]
    assert list(Session.objects.values_list("org", flat=True)) == [globex.pk]
    assert not Membership.objects.filter(user=viewer).exists()
    event = AuditEvent.objects.get(action="org_deleted")
    assert event.org is None
    assert event.org_label == "Acme (org-acme)"
    assert "1 synced sessions" in event.detail


def test_htmx_remove_redirects_on_the_client(admin_client: Client, acme: Organization) -> None:
    response = admin_client.post(f"/orgs/{acme.pk}/delete/", headers=HTMX)
    assert response["HX-Redirect"] == "/orgs/"
    assert not Organization.objects.exists()


# -- test connection ---------------------------------------------------------------------------


def test_connection_ok_over_htmx_replaces_the_row(admin_client: Client, acme: Organization) -> None:
    response = admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX)
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith(f'<tr id="org-{acme.pk}"')
    assert "can view sessions" in body
    assert "unknown until the first archive" in body
    assert "<time datetime=" in body and "data-relative" in body
    acme.refresh_from_db()
    assert acme.health == Organization.Health.OK
    assert acme.health_checked_at is not None
    event = AuditEvent.objects.get(action="credential_tested")
    assert event.outcome == "ok"
    assert "can view sessions" in event.detail


def test_connection_without_htmx_redirects_with_a_flash(
    admin_client: Client, acme: Organization
) -> None:
    response = admin_client.post(f"/orgs/{acme.pk}/test/", follow=True)
    assert response.redirect_chain == [("/orgs/", 302)]
    assert "Acme: can view sessions" in text(response)


def test_connection_with_a_view_only_token_can_still_view(
    admin_client: Client, acme: Organization, fake: Any
) -> None:
    acme.set_token(fake.tokens["org-acme"]["view"])
    acme.save()
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "can view sessions" in body
    assert "unknown until the first archive" in body


def test_connection_says_view_only_once_an_archive_was_refused(
    admin_client: Client, acme: Organization
) -> None:
    Organization.objects.filter(pk=acme.pk).update(can_manage=False)
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "View only" in body
    assert "cannot archive (lacks ManageOrgSessions)" in body
    acme.refresh_from_db()
    assert acme.health == Organization.Health.VIEW_ONLY


def test_connection_with_an_unknown_token_is_rejected(
    admin_client: Client, acme: Organization
) -> None:
    acme.set_token(GOOD_TOKEN)
    acme.save()
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "rejected (401)" in body
    acme.refresh_from_db()
    assert acme.health == Organization.Health.REJECTED
    event = AuditEvent.objects.get(action="credential_tested")
    assert (event.outcome, event.detail.startswith("rejected (401)")) == ("failed", True)


def test_connection_with_another_orgs_token_lacks_view_permission(
    admin_client: Client, acme: Organization, fake: Any
) -> None:
    acme.set_token(fake.tokens["org-globex"]["manage"])
    acme.save()
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "lacks ViewOrgSessions (403)" in body
    assert "This token belongs to org-globex" in body


def test_connection_to_a_stopped_api_is_unreachable(
    admin_client: Client, acme: Organization, fake: Any
) -> None:
    fake.stop()
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "unreachable: " in body
    acme.refresh_from_db()
    assert acme.health == Organization.Health.UNREACHABLE


def test_connection_to_a_closed_port_is_unreachable_with_a_flash(
    admin_client: Client, acme: Organization
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    Organization.objects.filter(pk=acme.pk).update(base_url=f"http://127.0.0.1:{port}")
    response = admin_client.post(f"/orgs/{acme.pk}/test/", follow=True)
    assert "Acme: unreachable: " in text(response)
    assert "refused the connection" in text(response)


def test_a_token_under_an_unknown_key_shows_the_clear_message(
    admin_client: Client, acme: Organization, settings: Any
) -> None:
    settings.CREDENTIAL_KEYS = "other:" + Fernet.generate_key().decode()
    response = admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX)
    assert response.status_code == 200
    assert "cannot be decrypted with the configured keys" in text(response)
    assert "re-enter the token" in text(response)
    response = admin_client.post(f"/orgs/{acme.pk}/test/", follow=True)
    assert "cannot be decrypted with the configured keys" in text(response)
    assert admin_client.get("/orgs/").status_code == 200
    assert admin_client.get(f"/orgs/{acme.pk}/edit/").status_code == 200
    assert AuditEvent.objects.filter(action="credential_decrypt_failed").count() == 2
    # Re-entering the token fixes it.
    admin_client.post(
        f"/orgs/{acme.pk}/edit/",
        {"name": "Acme", "org_id": "org-acme", "base_url": acme.base_url, "token": GOOD_TOKEN},
    )
    acme.refresh_from_db()
    assert crypto.decrypt(acme.token_ciphertext) == GOOD_TOKEN


# -- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["operator", "viewer"])
def test_members_cannot_manage_their_own_org(
    client: Client, acme: Organization, actor: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(actor))
    assert client.get("/orgs/").status_code == 403
    assert client.post(f"/orgs/{acme.pk}/test/").status_code == 403
    assert client.post(f"/orgs/{acme.pk}/delete/").status_code == 403
    assert Organization.objects.filter(pk=acme.pk).exists()
    assert not AuditEvent.objects.filter(action="credential_tested").exists()


def test_an_outsider_gets_404_for_another_orgs_pages(
    client: Client, acme: Organization, outsider: Any
) -> None:
    client.force_login(outsider)
    assert client.get(f"/orgs/{acme.pk}/edit/").status_code == 404
    assert client.post(f"/orgs/{acme.pk}/test/").status_code == 404
    assert client.get("/orgs/99999/edit/").status_code == 404


# -- Django admin ------------------------------------------------------------------------------


def test_django_admin_shows_no_token_and_keeps_audit_events_read_only(
    admin_client: Client, acme: Organization
) -> None:
    page = text(admin_client.get(f"/admin/dashboard/organization/{acme.pk}/change/"))
    assert 'name="name"' in page
    assert 'name="token' not in page and 'name="base_url"' not in page
    assert acme.token_ciphertext not in page
    event = AuditEvent.objects.create(action="credential_created", org=acme)
    assert admin_client.get("/admin/dashboard/auditevent/add/").status_code == 403
    change = admin_client.get(f"/admin/dashboard/auditevent/{event.pk}/change/")
    assert change.status_code == 200
    assert 'name="action"' not in text(change)  # shown, not editable
    assert admin_client.post(f"/admin/dashboard/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    ("host", "devin"),
    [
        ("api.devin.ai", True),
        ("api.acme.devinenterprise.com:443", True),
        ("127.0.0.1:8765", False),
        ("devin.ai.evil.example", False),
        ("notdevin.ai", False),
        ("[::1]:80", False),
    ],
)
def test_only_devins_hosts_count_as_devin(host: str, devin: bool) -> None:
    from dashboard.orgforms import is_devin_host

    assert is_devin_host(host) is devin


def test_connection_to_another_host_shows_a_status_line_not_its_body(
    admin_client: Client, acme: Organization, fake: Any
) -> None:
    # The fake is not a Devin host: what it says must not be read out to the page or the audit.
    fake.inject("status", status=418, count=None)
    body = text(admin_client.post(f"/orgs/{acme.pk}/test/", headers=HTMX))
    assert "answered HTTP 418" in body
    assert "Injected fault" not in body
    acme.refresh_from_db()
    assert "Injected fault" not in acme.health_detail
    assert "Injected fault" not in AuditEvent.objects.get(action="credential_tested").detail
