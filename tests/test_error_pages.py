"""Error pages with DEBUG off are our own plain pages and show nothing sensitive."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.views.debug import SafeExceptionReporterFilter

from dashboard.models import Organization
from dashboard.urls import urlpatterns as dashboard_urls

pytestmark = pytest.mark.django_db

TOKEN = "cog_" + "Lk3" * 13 + "q"


def boom(request: HttpRequest) -> HttpResponse:
    token = TOKEN  # a local the technical 500 page would show
    raise RuntimeError(f"the view failed while holding {token}")


# This module is also the URLconf of the tests marked with it: the app's URLs plus one that fails.
urlpatterns = [*dashboard_urls, path("boom/", boom)]


@pytest.mark.urls("tests.test_error_pages")
def test_a_crash_is_our_500_page_with_nothing_sensitive(
    make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert not settings.DEBUG
    caplog.set_level(logging.DEBUG)
    client = Client(raise_request_exception=False)
    client.force_login(make_user("ops"))
    response = client.get("/boom/")
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    for secret in (TOKEN, "RuntimeError", "Traceback", "holding", settings.SECRET_KEY, "boom"):
        assert secret not in page
    assert 'rel="stylesheet"' in page and "<script" not in page
    # The server log has the traceback, redacted.
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged, "the crash should be logged"
    for record in caplog.records:
        assert TOKEN not in " ".join([record.getMessage(), str(record.args), str(record.exc_text)])
    assert "cog_[redacted]" in caplog.text


def test_a_missing_page_is_our_404(client: Client, make_user: Any) -> None:
    client.force_login(make_user("ops"))
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Not found</h1>" in page
    assert "/no/such/page/" not in page  # Django's default echoes the path; ours does not


def test_another_orgs_object_is_the_same_404(client: Client, operator: Any, globex: Any) -> None:
    client.force_login(operator)
    theirs = client.get(f"/insight/{globex.pk}/")
    nobodys = client.get(f"/insight/{globex.pk + 100}/")
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.content == nobodys.content
    assert client.get(f"/insight/{operator.memberships.get().org_id}/").status_code == 200


def test_a_403_explains_what_is_missing(client: Client, viewer: Any, acme: Organization) -> None:
    client.force_login(viewer)
    response = client.post(f"/orgs/{acme.pk}/sync/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>You can’t do that here</h1>" in page
    assert "Viewers cannot change sessions. Ask an admin for the operator role." in page


def test_error_pages_need_no_context() -> None:
    from django.template import loader

    for name in ("403.html", "404.html", "500.html"):
        html = loader.get_template(name).render()
        assert "Devin dashboard" in html and "<script" not in html and "style=" not in html


# -- views that take a secret hide it from error reports -------------------------------------


@pytest.mark.parametrize(
    ("url", "data", "secret_field"),
    [
        ("/orgs/add/", {"name": "X", "org_id": "org-x", "token": TOKEN}, "token"),
        ("/orgs/{acme}/edit/", {"name": "X", "org_id": "org-acme", "token": TOKEN}, "token"),
        ("/team/add/", {"username": "x", "password1": TOKEN, "password2": TOKEN}, "password1"),
    ],
)
def test_views_that_take_a_secret_mark_it_sensitive(
    client: Client,
    admin: Any,
    acme: Organization,
    url: str,
    data: dict[str, str],
    secret_field: str,
) -> None:
    client.force_login(admin)
    response = client.post(url.format(acme=acme.pk), data)
    request = response.wsgi_request
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned[secret_field] != TOKEN
    assert set(cleaned.values()) & {TOKEN} == set()


def test_sign_in_and_setup_mark_passwords_sensitive(client: Client, make_user: Any) -> None:
    response = client.post("/setup/", {"username": "a", "password1": TOKEN, "password2": TOKEN})
    cleaned = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert TOKEN not in cleaned.values()
    make_user("ops")
    response = client.post("/login/", {"username": "ops", "password": TOKEN})
    cleaned = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert cleaned["password"] != TOKEN
