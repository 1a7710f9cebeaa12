"""Crafted input never gives a 500: every URL the authorization matrix knows (tests/routes.py), as
every actor, with hostile values in every parameter it reads, on SQLite and on PostgreSQL.

A bad value is a 400, or it is ignored and the page says so; it never reaches the database raw.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import AuditEvent, BulkRun, Session
from tests.routes import ACTORS, ROUTES, World, url_names

pytestmark = pytest.mark.django_db

HOSTILE = [
    "²",  # a digit to str.isdigit(), not to int()
    "٣",  # Arabic-Indic three: the same
    "9" * 30,  # beyond any integer column
    "-1",
    "0",
    "1e309",
    "nan",
    "9999-12-31",
    "0001-01-01",
    "a\x00b",  # PostgreSQL refuses NUL in text
    "x" * 100_000,
    "' OR 1=1 --",
    "<script>alert(1)</script>",
]

# The parameters each URL reads (query for GET, form for POST), besides its path.
SESSION_FILTERS = [
    *("org", "status", "detail", "category", "archived", "pr", "tag", "origin", "q", "sort"),
    "after",
]
AUDIT_FILTERS = ["org", "actor", "action", "outcome", "start", "end", "after"]
ORG_FORM = ["name", "org_id", "base_url", "token"]
PARAMS: dict[str, tuple[list[str], list[str]]] = {  # name: (GET params, POST params)
    "login": (["next"], ["username", "password", "next"]),
    "sessions": (SESSION_FILTERS, []),
    "session_archive": ([], ["next"]),
    "session_unarchive": ([], ["next"]),
    "session_row": (["x"], []),
    "sessions_live": (["ids", "since"], []),
    "session_track": ([], ["ref", "org", "next"]),
    "bulk_archive": ([], ["ids", "scope", *SESSION_FILTERS, "next"]),
    "insight": (["days"], []),
    "org_add": ([], ORG_FORM),
    "org_edit": ([], ORG_FORM),
    "org_sync": ([], ["next"]),
    "team_add": ([], ["username", "email", "password1", "password2", "is_admin"]),
    "team_user": ([], ["is_admin", "org_1", "org_2"]),
    "audit": (AUDIT_FILTERS, []),
    "audit_csv": (AUDIT_FILTERS, []),
    "team_unlock": ([], ["username"]),
    "team_user_password": ([], ["how"]),
    "password_change": ([], ["old_password", "new_password1", "new_password2"]),
    "password_reset_link": (["u", "t"], []),
    "password_reset_confirm": ([], ["new_password1", "new_password2"]),
}
# Not fuzzed: they read no parameters (beyond their path, fuzzed below) or change everything.
QUIET = {"logout", "org_delete", "setup"}


# Each parameter alone gets these (the others left out), so one value refused early cannot hide
# what a later parameter would do with another; every value goes into all parameters at once.
ALONE = ["²", "9" * 30, "9999-12-31", "x" * 100_000, "1e309"]


def bodies(names: list[str], value: str, *, alone: bool) -> list[dict[str, Any]]:
    """Every parameter hostile at once; with `alone`, each by itself too, and one repeated."""
    if not names:
        return [{"x": value}]
    every: list[dict[str, Any]] = [dict.fromkeys(names, value)]
    if not alone:
        return every
    return [*every, *({name: value} for name in names), {names[0]: [value, "1", value]}]


def check(response: Any, what: str) -> None:
    # A streamed answer (the CSV export) must not break off half-way either.
    if response.streaming:
        b"".join(response.streaming_content)
    assert response.status_code < 500, what


@pytest.mark.parametrize("name", [name for name in ROUTES if name not in QUIET])
def test_no_hostile_parameter_gives_a_500(client: Client, world: World, name: str) -> None:
    route = ROUTES[name]
    get_names, post_names = PARAMS.get(name, ([], []))
    url = reverse(name, kwargs=route.kwargs(world))
    for actor in ACTORS:  # the admin last: what an admin may change, it changes last
        client.logout()
        if actor != "anonymous":
            client.force_login(world.users[actor])
        for value in HOSTILE:
            # Signed out, every page but the sign-in sends to the sign-in: nothing more to reach.
            alone = value in ALONE and (actor != "anonymous" or name == "login")
            if route.get is not None:
                for query in bodies(get_names, value, alone=alone):
                    check(client.get(url, query), f"{actor} GET {url} {query!r:.200}")
            if route.post is not None:
                for data in bodies(post_names, value, alone=alone):
                    check(client.post(url, data), f"{actor} POST {url} {data!r:.200}")
    # Nothing hostile was stored as a session, and no archive ran on a hostile selection.
    assert set(Session.objects.values_list("session_id", flat=True)) == {world.session.session_id}
    assert not BulkRun.objects.filter(description__contains="x" * 1000).exists()


@pytest.mark.parametrize("pk", ["9" * 30, str(2**63), str(2**63 - 1), "0"])
@pytest.mark.parametrize(
    "name", [name for name, route in url_names().items() if "<int:" in route and name not in QUIET]
)
def test_a_huge_id_in_the_path_is_a_404(client: Client, world: World, name: str, pk: str) -> None:
    client.force_login(world.users["admin"])
    route = ROUTES[name]
    url = re.sub(r"/\d+/", f"/{pk}/", reverse(name, kwargs=route.kwargs(world)), count=1)
    response = client.get(url) if route.get is not None else client.post(url)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("get", "/", {"q": "a\x00b"}),
        ("get", "/audit/export.csv", {"actor": "\x00"}),
        ("get", "/audit/", {"a\x00": "1"}),
        ("post", "/sessions/track/", {"ref": "devin-a\x00b"}),
        ("post", "/team/unlock/", {"username": "ops\x00"}),
        *(("get", "/", {name: "x\x00"}) for name in ("status", "tag", "detail", "category")),
        *(("get", "/audit/", {name: "x\x00"}) for name in ("end", "origin", "action")),
    ],
)
def test_a_nul_anywhere_is_a_clear_400(
    client: Client, world: World, method: str, url: str, data: dict[str, str]
) -> None:
    client.force_login(world.users["admin"])
    before = AuditEvent.objects.count()

    response = getattr(client, method)(url, data)

    assert response.status_code == 400
    assert "NUL character" in response.content.decode()
    assert response["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in response
    assert AuditEvent.objects.count() == before


UNKNOWN_ORG = "Unknown organization in the link; showing all."


@pytest.mark.parametrize(
    ("url", "note"),
    [
        ("/?org=²", UNKNOWN_ORG),
        ("/?org=" + "9" * 30, UNKNOWN_ORG),
        (
            "/audit/?end=9999-12-31",
            "“9999-12-31” is too far in the past or the future; it is ignored.",
        ),
        ("/audit/?start=²", "“²” is not a date (YYYY-MM-DD); it is ignored."),
        ("/audit/?org=²", UNKNOWN_ORG),
    ],
)
def test_a_bad_filter_is_ignored_and_shown_as_such(
    client: Client, world: World, url: str, note: str
) -> None:
    client.force_login(world.users["operator"])
    response = client.get(url)
    assert response.status_code == 200
    assert note in response.content.decode()
