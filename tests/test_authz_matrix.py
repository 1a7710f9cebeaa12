"""Who may call what: every URL in the URLconf × every actor × GET and POST.

The table lives in tests/routes.py (with how to add a view). A URL name without an entry fails
`test_every_url_has_an_entry`, so a new view cannot ship without its authorization row.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import Organization
from tests.routes import ACTORS, ROUTES, World, url_names

pytestmark = pytest.mark.django_db

CASES = [
    pytest.param(name, method, actor, id=f"{name}-{method}-{actor}")
    for name, route in ROUTES.items()
    for method, expected in (("GET", route.get), ("POST", route.post))
    if expected is not None
    for actor in ACTORS
]


def test_every_url_has_an_entry() -> None:
    names = url_names()
    missing = sorted(set(names) - set(ROUTES))
    assert not missing, (
        f"URL names without an authorization entry in tests/routes.py ROUTES: {missing}. "
        "Add one per view (see the module docstring)."
    )
    stale = sorted(set(ROUTES) - set(names))
    assert not stale, f"ROUTES has entries for URL names that no longer exist: {stale}"


@pytest.mark.parametrize(("name", "method", "actor"), CASES)
def test_authorization(client: Client, world: World, name: str, method: str, actor: str) -> None:
    route = ROUTES[name]
    if actor != "anonymous":
        client.force_login(world.users[actor])
    url = reverse(name, kwargs=route.kwargs(world))
    if method == "GET":
        response = client.get(url + route.query)
        expected = route.get
    else:
        response = client.post(url, route.data(world))
        expected = route.post
    assert expected is not None
    assert response.status_code == expected[actor], (
        f"{actor} {method} {url}: got {response.status_code}, expected {expected[actor]}"
    )
    if response.status_code == 302 and actor == "anonymous":
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("actor", "other"), [("viewer", "globex"), ("operator", "globex"), ("outsider", "acme")]
)
def test_another_orgs_pages_look_like_missing_ones(
    client: Client, world: World, actor: str, other: str
) -> None:
    client.force_login(world.users[actor])
    other_pk = getattr(world, other).pk
    missing_pk = other_pk + 1000
    assert not Organization.objects.filter(pk=missing_pk).exists()
    for name, method in (("org_edit", "get"), ("org_delete", "get"), ("org_test", "post")):
        theirs = getattr(client, method)(reverse(name, args=[other_pk]))
        nobodys = getattr(client, method)(reverse(name, args=[missing_pk]))
        assert theirs.status_code == nobodys.status_code == 404
        assert theirs.content == nobodys.content
