"""A session's own page: header, PRs, the conversation read from Devin, tags and messages."""

from __future__ import annotations

import re
import time
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.cache import cache
from django.forms.models import model_to_dict
from django.test import Client

from dashboard import sync
from dashboard.models import AuditEvent, Session

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}

# Every error kind, as the fake serves it; the words the page must show; the audit outcome.
FAULTS: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "status", "status": 401}, "was rejected (401)", "failed"),
    ({"kind": "status", "status": 403}, "(403)", "failed"),
    ({"kind": "status", "status": 404}, "(404)", "failed"),
    ({"kind": "status", "status": 409}, "(409)", "failed"),
    ({"kind": "status", "status": 422}, "(422)", "failed"),
    ({"kind": "429", "retry_after": "30"}, "Try again in 30 seconds", "failed"),
    ({"kind": "status", "status": 503}, "HTTP 503", "unknown"),
    ({"kind": "malformed_json"}, "could not be read", "unknown"),
    ({"kind": "hang", "seconds": 10}, "did not answer in time", "unknown"),
]
FAULT_IDS = [f["kind"] + str(f.get("status", "")) for f, _, _ in FAULTS]


@pytest.fixture(autouse=True)
def no_hints() -> None:
    """Each test starts without remembered page starts (a cache hint of dashboard.conversation)."""
    cache.clear()


@pytest.fixture
def synced(fake: Any, acme: Any) -> Any:
    assert sync.sync_org(acme).state == "ok"
    return fake


def featured(fake: Any, name: str) -> Session:
    return Session.objects.get(session_id=fake.featured["org-acme"][name])


@pytest.fixture
def waiting(fake: Any, acme: Any) -> Session:
    created = fake.add_session(
        "org-acme",
        title="Needs an answer",
        status="running",
        status_detail="waiting_for_user",
        tags=["ops"],
        pull_requests=[{"pr_url": "https://github.com/acme/api/pull/123", "pr_state": "open"}],
    )
    fake.add_message("org-acme", created["session_id"], "Which branch should I use?")
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(session_id=created["session_id"])


class Links(HTMLParser):
    """Every href and every <script> of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "href" in found:
            self.hrefs.append(found["href"] or "")
        if tag == "script":
            self.scripts.append(found)
        if any(name.startswith("on") for name, _ in attrs):
            raise AssertionError(f"an event handler attribute in <{tag}>: {attrs}")


def parsed(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def event_ids(html: str) -> list[str]:
    return re.findall(r'<li class="message [^"]*" id="m-\d+-([^"]*)"', html)


def slug(event_id: str) -> str:
    return re.sub(r"[^\w\s-]", "", event_id.lower()).strip()


def test_the_header_prs_tags_and_conversation(
    client: Client, waiting: Session, operator: Any
) -> None:
    client.force_login(operator)
    html = unescape(client.get(f"/sessions/{waiting.pk}/").content.decode())
    assert "Needs an answer" in html and waiting.session_id in html
    assert "Acme" in html and "Waiting for user" in html
    assert 'href="https://github.com/acme/api/pull/123"' in html
    assert ">acme/api#123</a>" in html
    assert '<span class="tag">ops</span>' in html
    assert "Which branch should I use?" in html
    assert "waiting for you" in html
    assert 'name="text"' in html and "Terminate" in html


def test_a_viewer_sees_everything_but_no_controls(
    client: Client, waiting: Session, viewer: Any
) -> None:
    client.force_login(viewer)
    html = client.get(f"/sessions/{waiting.pk}/").content.decode()
    assert "Which branch should I use?" in html and ">acme/api#123</a>" in html
    assert 'name="text"' not in html and "/terminate/" not in html
    assert "/tags/" not in html and "/archive/" not in html
    before = model_to_dict(Session.objects.get(pk=waiting.pk))
    assert client.post(f"/sessions/{waiting.pk}/messages/send/", {"text": "x"}).status_code == 403
    assert client.post(f"/sessions/{waiting.pk}/tags/", {"tags": "x"}).status_code == 403
    assert model_to_dict(Session.objects.get(pk=waiting.pk)) == before


def test_another_orgs_session_is_a_404(client: Client, waiting: Session, outsider: Any) -> None:
    client.force_login(outsider)
    assert client.get(f"/sessions/{waiting.pk}/").status_code == 404
    assert client.get(f"/sessions/{waiting.pk}/messages/").status_code == 404


def test_the_long_conversation_shows_the_newest_50_and_loads_older_on_demand(
    client: Client, synced: Any, operator: Any
) -> None:
    session = featured(synced, "long")
    every = [m["event_id"] for m in synced.messages("org-acme", session.session_id)]
    assert len(every) == 2000
    client.force_login(operator)
    html = client.get(f"/sessions/{session.pk}/").content.decode()
    assert event_ids(html) == [slug(e) for e in every[-50:]]
    seen = event_ids(html)
    link = re.search(r'hx-get="(/sessions/\d+/messages/\?[^"]+)"', html)
    loads = 0
    while link:
        older = client.get(unescape(link.group(1)), headers=HX).content.decode()
        loads += 1
        assert 1 <= len(event_ids(older)) <= 50
        seen = event_ids(older) + seen
        link = re.search(r'hx-get="(/sessions/\d+/messages/\?[^"]+)"', older)
    assert seen == [slug(e) for e in every]  # each message once, in order, oldest first
    assert loads == 39


def test_opening_again_resumes_the_walk_near_the_end(
    client: Client, synced: Any, operator: Any
) -> None:
    session = featured(synced, "long")
    client.force_login(operator)
    synced.reset_stats()
    first = client.get(f"/sessions/{session.pk}/").content.decode()
    walked = [p for m, p in synced.calls if m == "GET" and "/messages" in p]
    assert len(walked) == 10  # 2,000 messages, 200 a page
    synced.add_message("org-acme", session.session_id, "One more thing.")
    synced.reset_stats()
    again = client.get(f"/sessions/{session.pk}/").content.decode()
    resumed = [p for m, p in synced.calls if m == "GET" and "/messages" in p]
    assert len(resumed) == 4  # pages 8-11 of 2,001 messages: from the third-last known start
    assert event_ids(again)[:-1] == event_ids(first)[1:]
    assert "One more thing." in again


def test_a_refused_remembered_cursor_falls_back_to_a_full_walk(
    client: Client, synced: Any, operator: Any, acme: Any
) -> None:
    session = featured(synced, "long")
    client.force_login(operator)
    first = client.get(f"/sessions/{session.pk}/").content.decode()
    key = f"conversation-starts:{acme.org_id}:{session.session_id}"
    cache.set(key, ["", "bogus-1", "bogus-2", "bogus-3"])
    again = client.get(f"/sessions/{session.pk}/").content.decode()
    assert event_ids(again) == event_ids(first)
    assert "could not be read" not in again


def test_a_hostile_conversation_renders_inert(client: Client, synced: Any, operator: Any) -> None:
    session = featured(synced, "hostile")
    client.force_login(operator)
    html = client.get(f"/sessions/{session.pk}/").content.decode()
    texts = [m["message"] for m in synced.messages("org-acme", session.session_id)]
    assert any("<script" in t.lower() for t in texts)
    assert any("javascript:" in t.lower() for t in texts)
    links = parsed(html)
    for href in links.hrefs:
        # "data:," is base.html's empty favicon; anything else must be ours or http(s).
        assert href == "data:," or href.startswith(("/", "?", "#", "http://", "https://")), href
    assert any(href.startswith("https://") for href in links.hrefs)
    # Only the page's own scripts (htmx, app.js), each from our static files.
    assert all(s.get("src", "") and "/static/" in (s.get("src") or "") for s in links.scripts)
    assert "<code>" in html  # fenced code stays code


def test_a_huge_message_is_collapsed(client: Client, synced: Any, operator: Any) -> None:
    session = featured(synced, "huge")
    client.force_login(operator)
    started = time.monotonic()
    html = client.get(f"/sessions/{session.pk}/").content.decode()
    assert time.monotonic() - started < 10
    assert '<details class="long-message">' in html


@pytest.mark.parametrize(("fault", "words", "outcome"), FAULTS, ids=FAULT_IDS)
def test_the_conversation_says_why_it_cannot_be_read(
    client: Client,
    waiting: Session,
    operator: Any,
    fake: Any,
    settings: Any,
    fault: dict[str, Any],
    words: str,
    outcome: str,
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    before = model_to_dict(Session.objects.get(pk=waiting.pk))
    client.force_login(operator)
    options = {k: v for k, v in fault.items() if k != "kind"}
    fake.inject(fault["kind"], count=None, method="GET", path="/messages", **options)
    response = client.get(f"/sessions/{waiting.pk}/")
    fake.clear_faults()
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "The conversation could not be read." in html
    assert words in html, html
    assert "Needs an answer" in html and ">acme/api#123</a>" in html  # the rest stands
    assert model_to_dict(Session.objects.get(pk=waiting.pk)) == before
    event = AuditEvent.objects.get(action="conversation_read")
    assert event.session_id == waiting.session_id and event.detail


def test_send_a_message_and_see_it(
    client: Client, waiting: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    text = "Use the release branch. " + "x" * 300
    response = client.post(f"/sessions/{waiting.pk}/messages/send/", {"text": text}, headers=HX)
    html = unescape(response.content.decode())
    assert html.lstrip().startswith('<section id="conversation"')
    assert "Use the release branch." in html
    assert fake.messages("org-acme", waiting.session_id)[-1]["message"] == text
    event = AuditEvent.objects.get(action="message")
    assert (event.actor, event.outcome, event.session_id) == (operator, "ok", waiting.session_id)
    assert text[:200] in event.detail and text[:201] not in event.detail


def test_send_without_htmx_redirects_to_the_page(
    client: Client, waiting: Session, operator: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/sessions/{waiting.pk}/messages/send/", {"text": "ok"}, follow=True)
    assert response.redirect_chain == [(f"/sessions/{waiting.pk}/", 302)]
    assert "Message sent." in response.content.decode()


def test_an_empty_message_is_refused_in_place(
    client: Client, waiting: Session, operator: Any
) -> None:
    client.force_login(operator)
    html = client.post(
        f"/sessions/{waiting.pk}/messages/send/", {"text": "  \n "}, headers=HX
    ).content.decode()
    assert "Write a message first." in html
    # A NUL anywhere in a request is refused before any view (issue 14's rule): nothing sent.
    nul = client.post(f"/sessions/{waiting.pk}/messages/send/", {"text": "a\x00b"}, headers=HX)
    assert nul.status_code == 400
    assert not AuditEvent.objects.filter(action="message").exists()


@pytest.mark.parametrize(("fault", "words", "outcome"), FAULTS, ids=FAULT_IDS)
def test_every_error_kind_of_sending_is_said_in_place_and_audited(
    client: Client,
    waiting: Session,
    operator: Any,
    fake: Any,
    settings: Any,
    fault: dict[str, Any],
    words: str,
    outcome: str,
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    before = model_to_dict(Session.objects.get(pk=waiting.pk))
    client.force_login(operator)
    options = {k: v for k, v in fault.items() if k != "kind"}
    fake.inject(fault["kind"], count=None, method="POST", path="/messages", **options)
    response = client.post(
        f"/sessions/{waiting.pk}/messages/send/", {"text": "Please stop"}, headers=HX
    )
    fake.clear_faults()
    html = unescape(response.content.decode())
    headline = "Message not confirmed." if outcome == "unknown" else "Message not sent."
    assert headline in html and words in html, html
    assert ">Please stop</textarea>" in html  # the draft is kept
    assert model_to_dict(Session.objects.get(pk=waiting.pk)) == before
    event = AuditEvent.objects.get(action="message")
    assert (event.outcome, event.session_id) == (outcome, waiting.session_id)
    assert "Please stop" in event.detail


def test_add_and_remove_tags_and_the_row_shows_them(
    client: Client, waiting: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    url = f"/sessions/{waiting.pk}/tags/"
    html = client.post(url, {"tags": "urgent, billing", "panel": "1"}, headers=HX).content.decode()
    assert '<span class="tag">urgent</span>' in html and '<span class="tag">billing</span>' in html
    # The list row behind the panel is swapped too (out of band).
    assert f'<tr id="session-{waiting.pk}"' in html and 'hx-swap-oob="true"' in html
    assert fake.get("org-acme", waiting.session_id)["tags"] == ["ops", "urgent", "billing"]
    assert Session.objects.get(pk=waiting.pk).tags == ["ops", "urgent", "billing"]
    assert Session.objects.get(pk=waiting.pk).tags_text == "|ops|urgent|billing|"
    seen = ["ops", "urgent", "billing"]
    html = client.post(url, {"remove": "ops", "seen": seen}, headers=HX).content.decode()
    assert '<span class="tag">ops</span>' not in html
    assert f'<tr id="session-{waiting.pk}"' not in html  # no row outside the list
    assert fake.get("org-acme", waiting.session_id)["tags"] == ["urgent", "billing"]
    events = AuditEvent.objects.filter(action="tags_changed", outcome="ok").order_by("pk")
    assert [e.detail for e in events] == ["added urgent, billing", "removed 'ops'"]
    listing = client.get("/?tag=urgent").content.decode()
    assert waiting.session_id in listing


@pytest.mark.parametrize(("fault", "words", "outcome"), FAULTS, ids=FAULT_IDS)
def test_every_error_kind_of_saving_tags_is_said_in_place_and_audited(
    client: Client,
    waiting: Session,
    operator: Any,
    fake: Any,
    settings: Any,
    fault: dict[str, Any],
    words: str,
    outcome: str,
) -> None:
    settings.ACTION_DEADLINE_SECONDS = 1.5
    before = model_to_dict(Session.objects.get(pk=waiting.pk))
    client.force_login(operator)
    options = {k: v for k, v in fault.items() if k != "kind"}
    fake.inject(fault["kind"], count=None, method="POST", path="/tags", **options)
    response = client.post(f"/sessions/{waiting.pk}/tags/", {"tags": "urgent"}, headers=HX)
    fake.clear_faults()
    html = unescape(response.content.decode())
    assert "Tags not saved." in html and words in html, html
    assert model_to_dict(Session.objects.get(pk=waiting.pk)) == before
    event = AuditEvent.objects.get(action="tags_changed")
    assert (event.outcome, event.session_id) == (outcome, waiting.session_id)


def test_the_row_opens_the_panel_and_the_panel_is_a_fragment(
    client: Client, waiting: Session, operator: Any
) -> None:
    client.force_login(operator)
    listing = client.get("/").content.decode()
    assert f'hx-get="/sessions/{waiting.pk}/" hx-target="#session-panel"' in listing
    assert '<aside id="session-panel"' in listing
    panel = client.get(f"/sessions/{waiting.pk}/", headers=HX).content.decode()
    assert panel.lstrip().startswith('<article class="session-detail')
    assert "data-close-panel" in panel and "<html" not in panel


def test_a_bad_older_link_is_an_error_in_place_not_a_500(
    client: Client, waiting: Session, operator: Any
) -> None:
    client.force_login(operator)
    response = client.get(f"/sessions/{waiting.pk}/messages/?starts=bogus&before=nope", headers=HX)
    assert response.status_code == 200
    assert "could not be read" in unescape(response.content.decode())
