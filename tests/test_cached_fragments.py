"""The sessions page's sync bar and filter bar come from the "rows" cache ({% cached_html %})
under everything they print: what one user saw never reaches another, a change shows at once,
and a cached form's CSRF token is the request's own."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from dashboard.models import SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    caches["rows"].clear()


def _tokens(html: str) -> set[str]:
    inputs = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return set(inputs) | set(re.findall(r'"X-CSRFToken": "([^"]+)"', html))


def test_a_cached_sync_form_carries_this_requests_token(acme: Any, operator: Any) -> None:
    SyncRun.objects.create(org=acme, state="ok", started_at=timezone.now(), seen=3)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    first = client.get("/").content.decode()
    second = client.get("/").content.decode()  # the bar from the cache
    assert f'action="/orgs/{acme.pk}/sync/"' in second
    assert "csrf-token-of-the-request" not in first + second
    # One token a page, as without the cache, and each page's its own (masked anew).
    assert len(_tokens(first)) == len(_tokens(second)) == 1
    assert _tokens(first) != _tokens(second)
    (token,) = _tokens(second)
    posted = client.post(f"/orgs/{acme.pk}/sync/", {"csrfmiddlewaretoken": token})
    assert posted.status_code == 302


def test_the_sync_bar_differs_by_user_and_follows_the_run(
    client: Client, acme: Any, operator: Any, viewer: Any
) -> None:
    client.force_login(operator)
    assert "Sync now" in client.get("/").content.decode()
    client.force_login(viewer)  # same org, same run: no button from the operator's copy
    assert "Sync now" not in client.get("/").content.decode()
    run = SyncRun.objects.create(org=acme, state="running", started_at=timezone.now(), pages=2)
    run.lease_until = timezone.now() + timedelta(minutes=1)
    run.save()
    assert "Syncing: 2 pages" in client.get("/").content.decode()
    SyncRun.objects.filter(pk=run.pk).update(state="failed", error="Devin said no (401).")
    assert "Devin said no (401)." in client.get("/").content.decode()
    acme.name = "Acme Renamed"
    acme.save()
    assert "Last sync of Acme Renamed" in client.get("/").content.decode()


def test_the_filter_bar_shows_this_requests_filters(
    client: Client, acme: Any, globex: Any, admin: Any, viewer: Any
) -> None:
    client.force_login(admin)
    searched = client.get("/?q=flaky&tag=urgent&sort=acus").content.decode()
    assert 'name="q" value="flaky"' in searched and 'value="urgent"' in searched
    assert '<option value="acus" selected>' in searched
    plain = client.get("/").content.decode()
    assert "flaky" not in plain and "urgent" not in plain
    assert '<option value="updated" selected>' in plain
    assert f'<option value="{globex.pk}" ' in plain  # the admin's orgs
    client.force_login(viewer)  # acme alone: no org menu, whatever the admin's copy held
    mine = client.get("/").content.decode()
    assert 'id="f-org"' not in mine and "Globex" not in mine
