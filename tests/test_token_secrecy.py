"""A stored token never reaches a browser: crawl every page and fragment as a site admin.

The pages come from the same table as the authorization matrix (tests/routes.py), so a new
view is crawled as soon as it has its entry there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import Organization
from tests.routes import ROUTES, World, make_world

pytestmark = pytest.mark.django_db

# Distinctive, so that finding any piece of it in a page means it leaked.
TOKEN = "cog_" + "Xylophone8Walrus3Quince6Harbor1Tundra4Kx"
SUBMITTED = "cog_" + "Submitted9Periwinkle2Oboe7Glacier5Mint3"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(
    fake: Any,
    acme: Organization,
    globex: Organization,
    admin: Any,
    operator: Any,
    viewer: Any,
    outsider: Any,
) -> World:
    fake.add_token("org-acme", TOKEN)
    acme.set_token(TOKEN, by=admin)
    acme.save()
    users = {"admin": admin, "operator": operator, "viewer": viewer, "outsider": outsider}
    return make_world(fake, acme, globex, users)


def secrets_in(body: str, acme: Organization) -> list[str]:
    ciphertext = acme.token_ciphertext
    pieces = {
        "token": TOKEN,
        "token without cog_": TOKEN.removeprefix("cog_"),
        "middle of the token": TOKEN[12:28],
        "submitted token": SUBMITTED,
        "middle of the submitted token": SUBMITTED[12:28],
        "ciphertext": ciphertext,
        "fernet token": ciphertext.partition(":")[2][:24],
    }
    return [name for name, piece in pieces.items() if piece in body]


def test_no_page_or_fragment_shows_the_token(client: Client, world: World) -> None:
    acme = world.acme
    client.force_login(world.users["admin"])
    responses: dict[str, Any] = {}

    # Every GET-able URL in the table, as a page and as an htmx request (partials).
    for name, route in ROUTES.items():
        if route.get is None:
            continue
        url = reverse(name, kwargs=route.kwargs(world)) + route.query
        responses[f"GET {url}"] = client.get(url)
        responses[f"GET {url} (htmx)"] = client.get(url, headers=HTMX)

    # Test connection, whose fragment and flash quote what Devin said.
    test_url = reverse("org_test", args=[acme.pk])
    responses["test connection (htmx)"] = client.post(test_url, headers=HTMX)
    responses["test connection"] = client.post(test_url, follow=True)
    assert "can view sessions" in responses["test connection (htmx)"].content.decode()

    # Form re-renders after errors, with a token submitted each time.
    edit = reverse("org_edit", args=[acme.pk])
    bad_edit = {"name": "", "org_id": "org-acme", "base_url": acme.base_url, "token": SUBMITTED}
    responses["edit with errors"] = client.post(edit, bad_edit)
    responses["edit with errors (htmx)"] = client.post(edit, bad_edit, headers=HTMX)
    responses["edit with a bad token"] = client.post(edit, {**bad_edit, "token": SUBMITTED + "!"})
    bad_add = {"name": "X", "org_id": "nope", "base_url": "ftp://x", "token": SUBMITTED}
    responses["add with errors"] = client.post(reverse("org_add"), bad_add)
    responses["add with errors (htmx)"] = client.post(reverse("org_add"), bad_add, headers=HTMX)

    # Django's admin, which superusers can open too.
    for url in (
        "/admin/dashboard/organization/",
        f"/admin/dashboard/organization/{acme.pk}/change/",
        "/admin/dashboard/auditevent/",
    ):
        responses[f"GET {url}"] = client.get(url)

    acme.refresh_from_db()
    assert acme.token_last4 == TOKEN[-4:]
    assert len(responses) > 20
    leaks = {}
    for label, response in responses.items():
        assert response.status_code < 500, label
        # The audit CSV export streams.
        body = b"".join(response.streaming_content) if response.streaming else response.content
        found = secrets_in(body.decode(), acme)
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        found += [f"{piece} (in a header)" for piece in secrets_in(headers, acme)]
        if found:
            leaks[label] = found
    assert leaks == {}
    # The pages do show the hint, so the crawl really looked at the credential's pages.
    assert f"cog_…{TOKEN[-4:]}" in responses["GET /orgs/"].content.decode()
