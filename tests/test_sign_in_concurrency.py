"""40 simultaneous wrong passwords for one user, against a live server: at most the limit (5) of
them get their password checked; the right password is then refused until an admin unlocks it,
and the audit trail has all of it. Passwords checks are counted by the hasher itself."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client

from dashboard.models import AuditEvent
from tests.conftest import PASSWORD
from tests.hashers import CountingHasher

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 40


def csrf_cookie(base: str) -> str:
    connection = HTTPConnection(urlsplit(base).netloc, timeout=30)
    connection.request("GET", "/login/")
    response = connection.getresponse()
    cookies = response.headers.get_all("Set-Cookie") or []
    connection.close()
    found = next(re.match(r"csrftoken=([^;]+)", c) for c in cookies if c.startswith("csrftoken="))
    assert found is not None
    return found.group(1)


def connect(base: str) -> HTTPConnection:
    """A connection the server has accepted, ready for one request.

    Connecting first, then sending every request at once, puts all of them in flight together
    without overflowing the test server's small listen backlog.
    """
    connection = HTTPConnection(urlsplit(base).netloc, timeout=60)
    connection.connect()
    return connection


def post_sign_in(
    connection: HTTPConnection, base: str, csrf: str, username: str, password: str
) -> int:
    """One sign-in from a browser that has loaded the sign-in page; returns the status."""
    body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
    headers = {
        "Cookie": f"csrftoken={csrf}",
        "Referer": base + "/login/",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    try:
        connection.request("POST", "/login/", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def sign_in_once(base: str, csrf: str, username: str, password: str) -> int:
    return post_sign_in(connect(base), base, csrf, username, password)


@pytest.fixture
def counting_hasher(settings: Any) -> type[CountingHasher]:
    settings.PASSWORD_HASHERS = ["tests.hashers.CountingHasher"]
    CountingHasher.reset()
    return CountingHasher


def test_simultaneous_guesses_get_at_most_the_limit_of_password_checks(
    live_server: Any, counting_hasher: type[CountingHasher], make_user: Any, admin: Any
) -> None:
    make_user("alice")
    base = live_server.url
    csrf = csrf_cookie(base)
    counting_hasher.reset()
    connections = [connect(base) for _ in range(ATTEMPTS)]
    start = threading.Barrier(ATTEMPTS)

    def guess(n: int) -> int:
        start.wait(timeout=30)
        return post_sign_in(connections[n], base, csrf, "alice", f"guess-{n}")

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        statuses = Counter(pool.map(guess, range(ATTEMPTS)))
    elapsed = time.monotonic() - began

    checks = counting_hasher.checks
    print(
        f"\n{ATTEMPTS} simultaneous guesses: {checks} password checks, {dict(statuses)}, "
        f"{elapsed:.2f} s"
    )
    assert 1 <= checks <= 5
    # Every one is refused: the five checked ones say so (200), or, finishing once the pair is
    # locked, say that it is (429, like every unchecked one).
    assert statuses[429] >= ATTEMPTS - 5
    assert statuses[200] + statuses[429] == ATTEMPTS

    # The right password is refused, without a check, until an admin unlocks alice.
    assert sign_in_once(base, csrf, "alice", PASSWORD) == 429
    assert counting_hasher.checks == checks
    team = Client()
    team.force_login(admin)
    response = team.post("/team/unlock/", {"username": "alice"}, follow=True)
    assert "Unlocked alice" in response.content.decode()
    assert sign_in_once(base, csrf, "alice", PASSWORD) == 302
    assert counting_hasher.checks == checks + 1

    trail = AuditEvent.objects.filter(actor_name="alice")
    assert trail.filter(action="sign_in", outcome="failed").count() == checks
    assert trail.filter(action="sign_in_locked", detail__startswith="locked after 5").count() == 1
    refused = trail.filter(action="sign_in_locked", detail="sign-in refused: locked out")
    # At most one a minute per pair, however many were refused (none if all came before the lock
    # was recorded, which is itself one event).
    assert refused.count() <= 1
    unlocked = AuditEvent.objects.get(action="sign_in_unlocked")
    assert (unlocked.actor, unlocked.detail) == (admin, "alice (from 127.0.0.1)")
    assert trail.filter(action="sign_in", outcome="ok").count() == 1
