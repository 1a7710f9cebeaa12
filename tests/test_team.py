from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.access import role_in, visible_orgs
from dashboard.models import AuditEvent, Membership, Organization
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()
HTMX = {"HX-Request": "true"}
NEW_PASSWORD = "a-Fresh-initial-passphrase-42"


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


def new_user(**overrides: Any) -> dict[str, Any]:
    data = {
        "username": "grace",
        "email": "grace@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


def roles(acme: Organization, globex: Organization, **overrides: Any) -> dict[str, Any]:
    data = {f"org_{acme.pk}": "", f"org_{globex.pk}": ""}
    data.update(overrides)
    return data


def text(response: Any) -> str:
    return response.content.decode()


# -- creating users ----------------------------------------------------------------------------


def test_admin_creates_a_user_who_can_sign_in(admin_client: Client) -> None:
    response = admin_client.post("/team/add/", new_user(), follow=True)
    grace = User.objects.get(username="grace")
    assert response.redirect_chain == [(f"/team/{grace.pk}/", 302)]
    assert "Created grace. Now give them a role below." in text(response)
    assert (grace.email, grace.is_superuser, grace.is_active) == ("grace@example.com", False, True)
    assert list(visible_orgs(grace)) == []
    assert Client().login(username="grace", password=NEW_PASSWORD)
    event = AuditEvent.objects.get(action="user_created")
    assert (event.actor_name, event.detail) == ("admin", "grace")
    assert NEW_PASSWORD not in event.detail


def test_admin_creates_another_admin(admin_client: Client, acme: Organization) -> None:
    admin_client.post("/team/add/", new_user(is_admin="on"))
    grace = User.objects.get(username="grace")
    assert grace.is_superuser and grace.is_staff
    assert list(visible_orgs(grace)) == [acme]
    assert AuditEvent.objects.get(action="user_created").detail == "grace (site admin)"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"password2": "something-else-entirely"}, "The two password fields didn’t match"),
        ({"password1": "short", "password2": "short"}, "This password is too short"),
        ({"username": "ADMIN"}, "A user with that username already exists"),
        ({"username": ""}, "This field is required"),
        ({"email": "not-an-email"}, "Enter a valid email address"),
    ],
)
def test_user_form_errors_are_shown_and_passwords_not_echoed(
    admin_client: Client, overrides: dict[str, str], error: str
) -> None:
    response = admin_client.post("/team/add/", new_user(**overrides))
    assert response.status_code == 200
    assert error in text(response)
    assert NEW_PASSWORD not in text(response)
    assert not User.objects.filter(username="grace").exists()
    assert not AuditEvent.objects.filter(action="user_created").exists()


def test_htmx_user_form_answers_with_the_form_or_a_client_redirect(admin_client: Client) -> None:
    response = admin_client.post("/team/add/", new_user(password2="nope"), headers=HTMX)
    assert text(response).lstrip().startswith("<form")
    assert "didn’t match" in text(response)
    response = admin_client.post("/team/add/", new_user(), headers=HTMX)
    grace = User.objects.get(username="grace")
    assert response["HX-Redirect"] == f"/team/{grace.pk}/"


# -- roles -------------------------------------------------------------------------------------


def test_assign_change_and_remove_roles(
    admin_client: Client, acme: Organization, globex: Organization, make_user: Any
) -> None:
    grace = make_user("grace")
    url = f"/team/{grace.pk}/"
    page = text(admin_client.get(url))
    assert '<label for="id_org_' in page and "Acme" in page and "Globex" in page

    response = admin_client.post(
        url, roles(acme, globex, **{f"org_{acme.pk}": "operator", f"org_{globex.pk}": "viewer"})
    )
    assert response.status_code == 302
    assert (role_in(grace, acme), role_in(grace, globex)) == ("operator", "viewer")

    admin_client.post(url, roles(acme, globex, **{f"org_{acme.pk}": "viewer"}))
    assert (role_in(grace, acme), role_in(grace, globex)) == ("viewer", None)
    assert list(visible_orgs(grace)) == [acme]

    details = list(
        AuditEvent.objects.filter(action="membership_changed")
        .order_by("pk")
        .values_list("org_label", "detail")
    )
    assert details == [
        ("Acme (org-acme)", "grace: no access → operator"),
        ("Globex (org-globex)", "grace: no access → viewer"),
        ("Acme (org-acme)", "grace: operator → viewer"),
        ("Globex (org-globex)", "grace: viewer → no access"),
    ]
    # Saving without a change records nothing.
    admin_client.post(url, roles(acme, globex, **{f"org_{acme.pk}": "viewer"}))
    assert AuditEvent.objects.filter(action="membership_changed").count() == 4


def test_an_unknown_role_is_a_field_error(
    admin_client: Client, acme: Organization, globex: Organization, viewer: Any
) -> None:
    response = admin_client.post(
        f"/team/{viewer.pk}/", roles(acme, globex, **{f"org_{acme.pk}": "owner"})
    )
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert role_in(viewer, acme) == "viewer"


def test_htmx_roles_form_returns_the_saved_form(
    admin_client: Client, acme: Organization, globex: Organization, viewer: Any
) -> None:
    response = admin_client.post(
        f"/team/{viewer.pk}/", roles(acme, globex, **{f"org_{acme.pk}": "operator"}), headers=HTMX
    )
    body = text(response)
    assert body.lstrip().startswith("<form")
    assert "Saved viewer's access." in body
    assert '<option value="operator" selected>' in body
    assert role_in(viewer, acme) == "operator"


def test_admin_role_can_be_granted_and_revoked(
    admin_client: Client, acme: Organization, globex: Organization, viewer: Any
) -> None:
    admin_client.post(f"/team/{viewer.pk}/", roles(acme, globex, is_admin="on"))
    viewer.refresh_from_db()
    assert viewer.is_superuser and viewer.is_staff
    admin_client.post(f"/team/{viewer.pk}/", roles(acme, globex))
    viewer.refresh_from_db()
    assert not viewer.is_superuser
    assert list(
        AuditEvent.objects.filter(action__startswith="admin_").values_list("action", "detail")
    ) == [("admin_granted", "viewer"), ("admin_revoked", "viewer")]


def test_an_admin_cannot_remove_their_own_admin_role(
    admin_client: Client, admin: Any, acme: Organization, globex: Organization, make_user: Any
) -> None:
    make_user("other-admin", admin=True)
    response = admin_client.post(f"/team/{admin.pk}/", roles(acme, globex))
    assert response.status_code == 200
    assert "You cannot remove your own admin role" in text(response)
    admin.refresh_from_db()
    assert admin.is_superuser


# -- deactivating ------------------------------------------------------------------------------


def test_deactivate_signs_the_user_out_and_reactivate_lets_them_back(
    admin_client: Client, viewer: Any
) -> None:
    theirs = Client()
    theirs.force_login(viewer)
    assert theirs.get("/").status_code == 200

    response = admin_client.post(f"/team/{viewer.pk}/deactivate/", follow=True)
    assert "Deactivated viewer: they can no longer sign in." in text(response)
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert theirs.get("/").status_code == 302
    assert not Client().login(username="viewer", password=PASSWORD)
    assert Membership.objects.filter(user=viewer).exists()  # roles are kept

    admin_client.post(f"/team/{viewer.pk}/reactivate/")
    viewer.refresh_from_db()
    assert viewer.is_active
    assert Client().login(username="viewer", password=PASSWORD)
    assert list(
        AuditEvent.objects.filter(action__in=["user_deactivated", "user_reactivated"])
        .order_by("pk")
        .values_list("action", "outcome", "detail")
    ) == [("user_deactivated", "ok", "viewer"), ("user_reactivated", "ok", "viewer")]


def test_htmx_deactivate_replaces_the_users_row(admin_client: Client, viewer: Any) -> None:
    response = admin_client.post(f"/team/{viewer.pk}/deactivate/", headers=HTMX)
    body = text(response)
    assert body.lstrip().startswith(f'<tr id="user-{viewer.pk}"')
    assert "deactivated" in body and "Reactivate" in body
    response = admin_client.post(f"/team/{viewer.pk}/reactivate/", headers=HTMX)
    assert "Deactivate" in text(response)


def test_the_last_active_admin_cannot_be_deactivated(admin_client: Client, admin: Any) -> None:
    response = admin_client.post(f"/team/{admin.pk}/deactivate/", follow=True)
    assert "admin is the last active admin and cannot be deactivated." in text(response)
    admin.refresh_from_db()
    assert admin.is_active
    event = AuditEvent.objects.get(action="user_deactivated")
    assert event.outcome == "denied"


def test_an_inactive_admin_does_not_count_as_another_admin(
    admin_client: Client, admin: Any, make_user: Any
) -> None:
    dormant = make_user("dormant", admin=True)
    dormant.is_active = False
    dormant.save()
    response = admin_client.post(f"/team/{admin.pk}/deactivate/", headers=HTMX)
    assert "last active admin" in text(response)
    admin.refresh_from_db()
    assert admin.is_active


def test_an_admin_cannot_deactivate_themself(
    admin_client: Client, admin: Any, make_user: Any
) -> None:
    make_user("other-admin", admin=True)
    response = admin_client.post(f"/team/{admin.pk}/deactivate/", headers=HTMX)
    assert response.status_code == 200
    assert "You cannot deactivate yourself" in text(response)
    admin.refresh_from_db()
    assert admin.is_active


def test_an_admin_can_deactivate_another_admin(admin_client: Client, make_user: Any) -> None:
    other = make_user("other-admin", admin=True)
    admin_client.post(f"/team/{other.pk}/deactivate/")
    other.refresh_from_db()
    assert not other.is_active


# -- the page ----------------------------------------------------------------------------------


def test_team_page_lists_users_with_their_access(
    admin_client: Client, operator: Any, viewer: Any, outsider: Any
) -> None:
    body = text(admin_client.get("/team/"))
    assert "Acme: operator" in body
    assert "Acme: viewer" in body
    assert "Globex: operator" in body
    assert "site admin" in body
    # No deactivate button for oneself: the admin's own row offers only "Edit access".
    assert body.count(">Deactivate<") == 3


def test_team_pages_are_for_admins_only(client: Client, operator: Any, viewer: Any) -> None:
    client.force_login(operator)
    assert client.get("/team/").status_code == 403
    assert client.post("/team/add/", new_user()).status_code == 403
    assert client.post(f"/team/{viewer.pk}/deactivate/").status_code == 403
    assert not User.objects.filter(username="grace").exists()
    viewer.refresh_from_db()
    assert viewer.is_active
