"""A host name that resolves to a link-local or cloud-metadata address is refused when the client
connects, whatever the base URL looked like: no connection is made, and sync says why.

No network: the name is `localhost` (which the base URL check lets through over http), and the
resolver is replaced to say where it leads; the fake Devin API listens on loopback.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from dashboard import sync, wording
from dashboard.devin import DevinClient, Misconfigured
from dashboard.devin.guard import guarded_transport
from dashboard.models import Organization, SyncRun
from fakedevin import FakeDevin

METADATA = "169.254.169.254"


def resolver(*addresses: str) -> Any:
    """A getaddrinfo that answers every name with `addresses`."""

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


def local_url(fake: FakeDevin) -> str:
    return fake.url.replace("127.0.0.1", "localhost")


def whoami(fake: FakeDevin, *addresses: str) -> str:
    """Who acme's token is, asked through a guarded transport whose resolver says `addresses`."""
    token = fake.tokens["org-acme"]["manage"]
    with httpx.Client(transport=guarded_transport(resolver(*addresses))) as http:
        client = DevinClient(base_url=local_url(fake), org_id="org-acme", token=token, http=http)
        return str(client.whoami().org_id)


@pytest.mark.parametrize("addresses", [(METADATA,), ("127.0.0.1", METADATA), ("fe80::1%lo",)])
def test_a_name_that_leads_to_a_link_local_address_is_refused(
    fake: FakeDevin, addresses: tuple[str, ...]
) -> None:
    fake.reset_stats()
    with pytest.raises(Misconfigured) as caught:
        whoami(fake, *addresses)
    said = wording.describe(caught.value)
    assert "is refused, so nothing was sent to it" in said
    assert "resolves to a link-local or cloud metadata address" in said
    assert fake.calls == []


def test_a_name_that_leads_to_loopback_connects_to_the_address_checked(fake: FakeDevin) -> None:
    # "localhost" resolved by the guard, not again by the socket: the checked address is used.
    assert whoami(fake, "127.0.0.1") == "org-acme"


@pytest.mark.django_db
def test_the_shared_client_is_guarded_and_the_sync_says_why(
    fake: FakeDevin, acme: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    Organization.objects.filter(pk=acme.pk).update(base_url=local_url(fake))
    monkeypatch.setattr(socket, "getaddrinfo", resolver(METADATA))
    fake.reset_stats()

    run = sync.sync_org(Organization.objects.get(pk=acme.pk))

    assert run.state == SyncRun.State.FAILED
    assert f"resolves to a link-local or cloud metadata address ({METADATA})" in run.error
    assert fake.calls == []
