"""The walk to the newest messages reads only the messages it shows: unreadable messages on a
page it only passes through are neither counted on the page nor logged."""

from __future__ import annotations

import logging
from html import unescape
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from dashboard import sync
from dashboard.models import Session

pytestmark = pytest.mark.django_db

UNREADABLE = "could not be read and"


@pytest.fixture(autouse=True)
def no_hints() -> None:
    cache.clear()


def test_unreadable_messages_the_walk_only_passes_are_not_read(
    client: Client, fake: Any, acme: Any, operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert sync.sync_org(acme).state == "ok"
    long = Session.objects.get(session_id=fake.featured["org-acme"]["long"])
    client.force_login(operator)
    # The first page (the oldest 200 of 2,000) comes without the messages' text and times.
    fake.inject("missing_fields", count=1, method="GET", path="/messages")
    with caplog.at_level(logging.WARNING, logger="dashboard.devin.session_parts"):
        html = unescape(client.get(f"/sessions/{long.pk}/").content.decode())
    assert html.count('<li class="message ') == 50 and UNREADABLE not in html
    assert "unreadable messages" not in caplog.text


def test_unreadable_messages_on_a_page_shown_are_counted_and_logged(
    client: Client, fake: Any, acme: Any, operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    created = fake.add_session("org-acme", title="Short", status="running")
    fake.add_message("org-acme", created["session_id"], "Hello")
    assert sync.sync_org(acme).state == "ok"
    short = Session.objects.get(session_id=created["session_id"])
    client.force_login(operator)
    fake.inject("missing_fields", count=1, method="GET", path="/messages")
    with caplog.at_level(logging.WARNING, logger="dashboard.devin.session_parts"):
        html = unescape(client.get(f"/sessions/{short.pk}/").content.decode())
    assert "1 message could not be read and is not shown." in html
    assert "1 unreadable messages" in caplog.text
