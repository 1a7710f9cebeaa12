from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_first_run_leads_from_root_to_setup(client: Client) -> None:
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/setup/"
    assert b"Create the first admin" in response.content


def test_setup_creates_first_admin_and_signs_in(client: Client) -> None:
    response = client.post(
        "/setup/",
        {"username": "ada", "email": "", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/orgs/add/"
    user = get_user_model().objects.get(username="ada")
    assert user.is_superuser
    assert client.get("/orgs/add/").status_code == 200
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="user_created", actor=user).exists()


def test_setup_rejects_mismatched_passwords_with_a_field_error(client: Client) -> None:
    response = client.post(
        "/setup/", {"username": "ada", "password1": PASSWORD, "password2": PASSWORD + "x"}
    )
    assert response.status_code == 200
    assert b"The two password fields" in response.content
    assert not get_user_model().objects.exists()


def test_setup_is_gone_once_a_user_exists(client: Client, make_user: Any) -> None:
    make_user("someone")
    assert client.get("/setup/").status_code == 404
    response = client.post(
        "/setup/", {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_every_page_needs_login(client: Client, make_user: Any) -> None:
    make_user("someone")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_and_post_only_logout(client: Client, make_user: Any) -> None:
    make_user("op")
    response = client.post("/login/", {"username": "op", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert b"Sign out" in response.content
    assert client.get("/logout/").status_code == 405
    client.post("/logout/")
    assert client.get("/").status_code == 302
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("pk")) == [
        "sign_in",
        "sign_out",
    ]


def test_failed_login_says_so_and_is_audited(client: Client, make_user: Any) -> None:
    make_user("op")
    response = client.post("/login/", {"username": "op", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.actor_name) == ("sign_in", "failed", "op")


def test_healthz_needs_no_login_and_reports_version(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "version": "0.1.0"}
