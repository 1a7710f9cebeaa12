"""Sign-in through the company's authenticating proxy (DASHBOARD_AUTH_HEADER): believed only from
DASHBOARD_TRUSTED_PROXIES, unknown people refused or created without roles, CSRF as ever."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.test import Client, override_settings

from dashboard.models import AuditEvent, Membership
from tests.conftest import PASSWORD
from tests.test_settings import PRODUCTION, run_manage

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.7"
BEHIND_THE_PROXY = override_settings(
    AUTH_HEADER="HTTP_X_FORWARDED_EMAIL",
    TRUSTED_PROXIES=[ipaddress.ip_network("10.0.0.0/24")],
    AUTH_CREATE_USERS=False,
    AUTH_LOGOUT_URL="",
)


def via_proxy(name: str, remote: str = PROXY) -> dict[str, Any]:
    return {"HTTP_X_FORWARDED_EMAIL": name, "REMOTE_ADDR": remote}


def text(response: Any) -> str:
    return response.content.decode()


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


@BEHIND_THE_PROXY
def test_the_trusted_proxys_header_signs_in(viewer: Any) -> None:
    client = Client()
    response = client.get("/account/", **via_proxy("viewer"))
    assert response.status_code == 200
    assert "through your company's sign-in" in text(response)
    assert signed_in_as(client) == "viewer"
    # The next requests reuse the session: one sign-in event, not one per request.
    client.get("/", **via_proxy("viewer"))
    event = AuditEvent.objects.get(action="sign_in")
    assert (event.actor, event.outcome, event.ip) == (viewer, "ok", PROXY)


@BEHIND_THE_PROXY
def test_an_email_finds_its_one_user(viewer: Any) -> None:
    client = Client()
    assert client.get("/", **via_proxy("Viewer@Example.com")).status_code == 200
    assert signed_in_as(client) == "viewer"


@BEHIND_THE_PROXY
def test_the_header_from_anywhere_else_is_ignored_and_logged(
    viewer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.proxyauth")
    client = Client()
    response = client.get("/", **via_proxy("viewer", remote="192.0.2.50"))
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")
    assert signed_in_as(client) is None
    [record] = [r for r in caplog.records if r.name == "dashboard.proxyauth"]
    assert "did not come from a trusted proxy" in record.getMessage()
    assert (record.header, record.remote) == ("X-Forwarded-Email", "192.0.2.50")  # type: ignore[attr-defined]


@BEHIND_THE_PROXY
def test_an_unknown_user_is_refused_with_a_page_that_says_what_to_do(viewer: Any) -> None:
    response = Client().get("/", **via_proxy("mallory@example.com"))
    assert response.status_code == 403
    page = text(response)
    assert "Your company's sign-in says you are <strong>mallory@example.com</strong>" in page
    assert "the dashboard has no user by that name" in page
    assert "Ask an admin of this dashboard to add the user" in page
    assert not User.objects.filter(username="mallory@example.com").exists()
    event = AuditEvent.objects.get(action="sign_in")
    assert (event.outcome, event.actor_name) == ("failed", "mallory@example.com")
    assert event.detail == "through the sign-in proxy: the dashboard has no user by that name"


@BEHIND_THE_PROXY
@override_settings(AUTH_CREATE_USERS=True)
def test_an_unknown_user_can_be_created_without_roles(viewer: Any, acme: Any) -> None:
    client = Client()
    response = client.get("/account/", **via_proxy("newcomer@example.com"))
    assert response.status_code == 200
    assert "You have no role in any organization yet" in text(response)
    user = User.objects.get(username="newcomer@example.com")
    assert (user.email, user.is_superuser, user.has_usable_password()) == (
        "newcomer@example.com",
        False,
        False,
    )
    assert not Membership.objects.filter(user=user).exists()
    # No organization is visible until an admin grants a role.
    assert acme.name not in text(client.get("/", **via_proxy("newcomer@example.com")))
    created = AuditEvent.objects.get(action="user_created")
    assert created.detail == "newcomer@example.com (first sign-in through the proxy; no roles yet)"
    assert "You have no password here" in text(
        client.get("/account/password/", **via_proxy("newcomer@example.com"))
    )


@BEHIND_THE_PROXY
def test_a_deactivated_user_is_refused(viewer: Any) -> None:
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    response = Client().get("/", **via_proxy("viewer"))
    assert response.status_code == 403
    assert "that user is deactivated" in text(response)


@BEHIND_THE_PROXY
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a" * 151, "the name is too long"),
        ("bad name", "the name has characters a username cannot have"),
        ("nul\x00byte", "the name has characters a username cannot have"),
    ],
)
def test_a_name_that_cannot_be_a_username_is_a_clear_400(viewer: Any, name: str, why: str) -> None:
    response = Client().get("/", **via_proxy(name))
    assert response.status_code == 400
    assert why in text(response)
    assert AuditEvent.objects.get(action="sign_in").outcome == "failed"
    assert "The sign-in proxy may be sending the wrong header" in text(response)


@BEHIND_THE_PROXY
def test_csrf_still_applies(viewer: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/account/", **via_proxy("viewer"))
    assert page.status_code == 200
    forged = client.post("/account/sign-out-everywhere/", **via_proxy("viewer"))
    assert forged.status_code == 403
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/account/sign-out-everywhere/", {"csrfmiddlewaretoken": token}, **via_proxy("viewer")
    )
    assert response.status_code == 302


@BEHIND_THE_PROXY
def test_another_name_in_the_header_switches_the_user(viewer: Any, operator: Any) -> None:
    client = Client()
    client.get("/", **via_proxy("viewer"))
    client.get("/", **via_proxy("operator"))
    assert signed_in_as(client) == "operator"


@BEHIND_THE_PROXY
def test_without_the_header_a_proxy_session_ends_but_a_password_one_does_not(
    viewer: Any, operator: Any
) -> None:
    by_proxy = Client()
    by_proxy.get("/", **via_proxy("viewer"))
    assert by_proxy.get("/", REMOTE_ADDR=PROXY).status_code == 302
    assert signed_in_as(by_proxy) is None
    by_password = Client()
    assert by_password.post("/login/", {"username": "operator", "password": PASSWORD})
    assert by_password.get("/").status_code == 200


@BEHIND_THE_PROXY
def test_sign_out_goes_to_the_proxys_sign_out_when_set(viewer: Any) -> None:
    client = Client()
    client.get("/", **via_proxy("viewer"))
    response = client.post("/logout/", **via_proxy("viewer"))
    assert (response.status_code, response["Location"]) == (302, "/login/")
    with override_settings(AUTH_LOGOUT_URL="https://sso.example.com/oauth2/sign_out?rd=%2F"):
        client.get("/", **via_proxy("viewer"))
        response = client.post("/logout/", **via_proxy("viewer"))
    assert response["Location"] == "https://sso.example.com/oauth2/sign_out?rd=%2F"
    assert AuditEvent.objects.filter(action="sign_out").count() == 2


@BEHIND_THE_PROXY
def test_on_first_run_the_header_leads_to_setup() -> None:
    response = Client().get("/", follow=True, **via_proxy("ada@example.com"))
    assert response.redirect_chain[-1][0] == "/setup/"


def test_the_header_is_ignored_unless_configured(viewer: Any) -> None:
    client = Client()
    assert client.get("/", **via_proxy("viewer")).status_code == 302
    assert signed_in_as(client) is None


def test_the_header_needs_the_proxys_addresses_not_a_count(tmp_path: Path) -> None:
    env = {
        **PRODUCTION,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
        "DASHBOARD_AUTH_HEADER": "X-Forwarded-Email",
    }
    refused = run_manage("check", **env, DASHBOARD_TRUSTED_PROXIES="1")
    assert refused.returncode != 0
    assert "DASHBOARD_AUTH_HEADER needs DASHBOARD_TRUSTED_PROXIES to list" in refused.stderr
    accepted = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **env, DASHBOARD_TRUSTED_PROXIES="127.0.0.1"
    )
    assert accepted.returncode == 0, accepted.stderr
