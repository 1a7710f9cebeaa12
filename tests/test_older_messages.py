"""Older messages without JavaScript: the "Load older" link opens the whole page showing them;
htmx gets the fragment. The link's values go through a form: a crafted one is a 400."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from dashboard import sync
from dashboard.conversation import MAX_STARTS
from dashboard.models import Session
from tests.test_session_page import event_ids, slug

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def no_hints() -> None:
    cache.clear()


@pytest.fixture
def long(fake: Any, acme: Any) -> Session:
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(session_id=fake.featured["org-acme"]["long"])


def older_href(html: str) -> str:
    found = re.search(r'<a class="button small" href="(/sessions/\d+/messages/\?[^"]+)"', html)
    assert found, "no link to older messages"
    return unescape(found.group(1))


def test_without_javascript_older_messages_open_on_the_whole_page(
    client: Client, long: Session, operator: Any, fake: Any
) -> None:
    every = [slug(m["event_id"]) for m in fake.messages("org-acme", long.session_id)]
    client.force_login(operator)
    first = client.get(f"/sessions/{long.pk}/").content.decode()
    href = older_href(first)
    assert href.endswith("#messages")
    response = client.get(href.split("#")[0])  # a browser does not send the fragment
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "<html" in html and "« All sessions" in html  # the whole page, not a fragment
    assert event_ids(html) == every[-100:-50]
    assert f'<a href="/sessions/{long.pk}/">Back to the newest messages</a>' in html
    # And on: each page of older messages links to the one before.
    again = unescape(client.get(older_href(html).split("#")[0]).content.decode())
    assert event_ids(again) == every[-150:-100]
    assert response["Vary"].count("HX-Request") == 1


def test_htmx_gets_the_older_messages_as_a_fragment(
    client: Client, long: Session, operator: Any
) -> None:
    client.force_login(operator)
    href = older_href(client.get(f"/sessions/{long.pk}/").content.decode()).split("#")[0]
    html = client.get(href, headers=HX).content.decode()
    assert "<html" not in html and "Back to the newest" not in html
    assert len(event_ids(html)) == 50


def test_without_a_link_the_messages_url_is_the_page(
    client: Client, long: Session, operator: Any
) -> None:
    client.force_login(operator)
    response = client.get(f"/sessions/{long.pk}/messages/")
    assert response.status_code == 302 and response["Location"] == f"/sessions/{long.pk}/"


@pytest.mark.parametrize(
    "query",
    [
        "?starts=",  # no `before`
        "?before=e1",  # no `starts`
        "?starts=&before=" + "x" * 201,
        "?starts=" + "y" * 201 + "&before=e1",
        "?" + "starts=a&" * (MAX_STARTS + 1) + "before=e1",
    ],
    ids=["no-before", "no-starts", "long-before", "long-start", "too-many-starts"],
)
def test_a_crafted_older_link_is_a_400_not_a_500(
    client: Client, long: Session, operator: Any, query: str
) -> None:
    client.force_login(operator)
    assert client.get(f"/sessions/{long.pk}/messages/{query}").status_code == 400
    assert client.get(f"/sessions/{long.pk}/messages/{query}", headers=HX).status_code == 400


def test_a_refused_cursor_without_javascript_is_said_on_the_page(
    client: Client, long: Session, operator: Any
) -> None:
    client.force_login(operator)
    response = client.get(f"/sessions/{long.pk}/messages/?starts=bogus&before=nope")
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "The conversation could not be read." in html and "<html" in html
