"""Removing a tag while its tags change elsewhere: the removal carries the tags the page showed,
and a stale list is refused with the current tags shown, over real HTTP to the fake."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import AuditEvent, Session

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
CHANGED = "Tags changed since you loaded the page"


@pytest.fixture
def tagged(fake: Any, acme: Any) -> Session:
    created = fake.add_session("org-acme", title="Tagged", status="running", tags=["ops", "db"])
    assert sync.sync_org(acme).state == "ok"
    return Session.objects.get(session_id=created["session_id"])


def tag_calls(fake: Any) -> list[str]:
    return [method for method, path in fake.calls if path.endswith("/tags")]


def test_the_tag_list_carries_the_tags_it_shows(
    client: Client, tagged: Session, operator: Any
) -> None:
    client.force_login(operator)
    html = client.get(f"/sessions/{tagged.pk}/").content.decode()
    assert '<input type="hidden" name="seen" value="ops">' in html
    assert '<input type="hidden" name="seen" value="db">' in html
    assert 'name="remove" value="ops"' in html and 'aria-label="Remove tag ops"' in html


def test_a_removal_on_a_stale_list_is_refused_and_the_current_tags_shown(
    client: Client, tagged: Session, operator: Any, fake: Any, acme: Any
) -> None:
    client.force_login(operator)
    client.get(f"/sessions/{tagged.pk}/")  # the page shows ops, db
    acme.client().append_tags(tagged.session_id, ["billing"])  # someone else, meanwhile
    fake.reset_stats()
    response = client.post(
        f"/sessions/{tagged.pk}/tags/", {"remove": "ops", "seen": ["ops", "db"]}, headers=HX
    )
    html = unescape(response.content.decode())
    assert CHANGED in html and 'role="alert"' in html
    for tag in ("ops", "db", "billing"):
        assert f'<span class="tag">{tag}</span>' in html
    assert '<input type="hidden" name="seen" value="billing">' in html  # ready to try again
    assert tag_calls(fake) == ["GET"]  # read, not replaced
    assert fake.get("org-acme", tagged.session_id)["tags"] == ["ops", "db", "billing"]
    assert Session.objects.get(pk=tagged.pk).tags == ["ops", "db", "billing"]
    event = AuditEvent.objects.get(action="tags_changed")
    assert event.outcome == "failed" and "changed since the page was loaded" in event.detail


def test_a_removal_on_the_current_list_reads_then_replaces(
    client: Client, tagged: Session, operator: Any, fake: Any
) -> None:
    client.force_login(operator)
    fake.reset_stats()
    html = client.post(
        f"/sessions/{tagged.pk}/tags/", {"remove": "ops", "seen": ["db", "ops"]}, headers=HX
    ).content.decode()
    assert CHANGED not in html and '<span class="tag">ops</span>' not in html
    assert tag_calls(fake) == ["GET", "PUT"]
    assert fake.get("org-acme", tagged.session_id)["tags"] == ["db"]
    assert Session.objects.get(pk=tagged.pk).tags == ["db"]
    assert AuditEvent.objects.get(action="tags_changed").outcome == "ok"


def test_a_tag_removed_elsewhere_already_is_not_a_conflict(
    client: Client, tagged: Session, operator: Any, fake: Any, acme: Any
) -> None:
    client.force_login(operator)
    acme.client().replace_tags(tagged.session_id, ["db"])
    fake.reset_stats()
    html = client.post(
        f"/sessions/{tagged.pk}/tags/", {"remove": "ops", "seen": ["ops", "db"]}, headers=HX
    ).content.decode()
    assert CHANGED not in html and '<span class="tag">ops</span>' not in html
    assert tag_calls(fake) == ["GET"]  # nothing left to replace
    assert Session.objects.get(pk=tagged.pk).tags == ["db"]


def test_without_htmx_the_refusal_is_a_flash_on_the_page(
    client: Client, tagged: Session, operator: Any, acme: Any
) -> None:
    client.force_login(operator)
    acme.client().append_tags(tagged.session_id, ["billing"])
    page = f"/sessions/{tagged.pk}/"
    response = client.post(f"{page}tags/", {"remove": "db", "seen": ["ops", "db"]}, follow=True)
    assert response.redirect_chain == [(page, 302)]
    html = unescape(response.content.decode())
    assert CHANGED in html and '<span class="tag">billing</span>' in html


@pytest.mark.parametrize(
    "data",
    [
        {"remove": "ops"},  # no list: not a form of ours
        {"remove": "ops", "seen": ["db"]},  # removing a tag the page did not show
        {"remove": "x" * 1001, "seen": ["x" * 1001]},
        {"tags": "a" * 2001},
    ],
    ids=["no-seen", "unseen", "long-remove", "long-add"],
)
def test_a_crafted_tags_form_is_a_400_and_changes_nothing(
    client: Client, tagged: Session, operator: Any, fake: Any, data: dict[str, Any]
) -> None:
    client.force_login(operator)
    fake.reset_stats()
    assert client.post(f"/sessions/{tagged.pk}/tags/", data, headers=HX).status_code == 400
    assert tag_calls(fake) == []
    assert fake.get("org-acme", tagged.session_id)["tags"] == ["ops", "db"]


def test_more_tags_than_one_replace_carries_is_said_not_a_500(
    client: Client, operator: Any, fake: Any, acme: Any
) -> None:
    many = [f"t{n}" for n in range(52)]
    created = fake.add_session("org-acme", title="Many tags", tags=many)
    assert sync.sync_org(acme).state == "ok"
    session = Session.objects.get(session_id=created["session_id"])
    client.force_login(operator)
    response = client.post(
        f"/sessions/{session.pk}/tags/", {"remove": "t0", "seen": many}, headers=HX
    )
    assert response.status_code == 200
    assert "Tags not saved: at most 50 tags at a time, not 51. Nothing was changed." in (
        unescape(response.content.decode())
    )
    assert fake.get("org-acme", session.session_id)["tags"] == many
