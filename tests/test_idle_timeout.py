"""The idle timeout (SESSION_IDLE_TIMEOUT): a session ends after that long without a request, and
is renewed at most once a minute, so that a page view writes nothing to the database."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session as DbSession
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import sync
from dashboard.middleware import RENEW_EVERY, RENEWED_KEY
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def signed_in(client: Client, make_user: Any) -> str:
    make_user("ops")
    client.post("/login/", {"username": "ops", "password": PASSWORD})
    assert client.get("/").status_code == 200  # the first page renews the new session once
    return client.session.session_key or ""


def expires_in(key: str) -> float:
    return (DbSession.objects.get(session_key=key).expire_date - timezone.now()).total_seconds()


def last_renewed(key: str, seconds_ago: float) -> None:
    """Pretend the session was last renewed `seconds_ago`, and expires 30 s from now."""
    store = SessionStore(session_key=key)
    store[RENEWED_KEY] = int(time.time() - seconds_ago)
    store.save()
    DbSession.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=30)
    )


@override_settings(SESSION_COOKIE_AGE=600)
def test_a_request_renews_the_session_once_a_minute(client: Client, make_user: Any) -> None:
    key = signed_in(client, make_user)
    last_renewed(key, seconds_ago=RENEW_EVERY - 5)
    response = client.get("/")
    assert response.status_code == 200
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert expires_in(key) < 31  # not renewed: renewed less than a minute ago

    last_renewed(key, seconds_ago=RENEW_EVERY + 1)
    response = client.get("/")
    assert response.status_code == 200
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 600
    assert expires_in(key) > 590


def test_a_page_view_writes_nothing(client: Client, acme: Any, operator: Any) -> None:
    assert sync.sync_org(acme).state == "ok"
    client.force_login(operator)
    assert client.get("/").status_code == 200  # renews the new session once
    for url in ("/", "/?status=running&q=fix", "/insight/", "/audit/"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, follow=True)
        assert response.status_code == 200
        writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(WRITES)]
        assert writes == [], url


def test_an_anonymous_visit_makes_no_session(client: Client, make_user: Any) -> None:
    make_user("ops")
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 302
    assert client.get("/login/").status_code == 200
    assert not DbSession.objects.exists()


@override_settings(SESSION_COOKIE_AGE=600)
def test_an_idle_session_ends(client: Client, make_user: Any) -> None:
    signed_in(client, make_user)
    # Ten minutes and a second without a request.
    DbSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
