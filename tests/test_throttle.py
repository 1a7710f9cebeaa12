"""Sign-in throttling (django-axes): per (username, client address) pair, proxy-aware, with an
admin unlock on the Team page, and every step in the audit trail."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from dashboard import settings as dashboard_settings
from dashboard import signin
from dashboard.models import AuditEvent
from dashboard.proxies import client_ip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOCKED_TEXT = "Too many failed sign-ins for this account from your address."
BEHIND_PROXY = {"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR", "TRUSTED_PROXIES": 1}
PROXY = "10.0.0.2"


def sign_in(username: str, password: str, **extra: Any) -> Any:
    """A fresh browser (no cookies) posting the login form."""
    return Client().post("/login/", {"username": username, "password": password}, **extra)


def fail(username: str, times: int, **extra: Any) -> Any:
    response = None
    for _ in range(times):
        response = sign_in(username, "wrong-password", **extra)
    return response


def signed_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def age_attempts(minutes: float) -> None:
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=minutes))


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


def test_five_failures_lock_the_pair_with_a_clear_message(alice: Any) -> None:
    for attempt in range(4):
        response = sign_in("alice", "wrong-password")
        assert response.status_code == 200, attempt
        assert LOCKED_TEXT not in response.content.decode()
    response = sign_in("alice", "wrong-password")
    page = response.content.decode()
    assert response.status_code == 429
    assert (
        "Too many failed sign-ins for this account from your address. "
        "Try again in 15 minutes or ask an admin to unlock it."
    ) in page
    assert 'value="alice"' in page  # the sign-in form is still there, with the username
    # While locked, even the right password is refused.
    response = sign_in("alice", PASSWORD)
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert not signed_in(response)
    events = AuditEvent.objects.filter(actor_name="alice")
    assert events.filter(action="sign_in", outcome="failed").count() == 5
    locked = events.get(action="sign_in_locked")
    assert (locked.outcome, locked.detail) == ("denied", "locked after 5 failed sign-ins")
    assert locked.ip == "127.0.0.1"
    assert not events.filter(action="sign_in", outcome="ok").exists()


def test_a_locked_pair_gets_no_password_check(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fail("alice", 5)
    checked = []
    real = type(alice).check_password

    def check_password(self: Any, raw: str) -> bool:
        checked.append(raw)
        return real(self, raw)

    monkeypatch.setattr(type(alice), "check_password", check_password)
    assert sign_in("alice", PASSWORD).status_code == 429
    assert sign_in("alice", "another guess").status_code == 429
    assert checked == []


def test_the_wait_counts_down_from_the_last_failure(alice: Any) -> None:
    fail("alice", 5)
    age_attempts(11)
    response = sign_in("alice", PASSWORD)
    assert "Try again in 4 minutes" in response.content.decode()


def test_refused_attempts_do_not_extend_the_lock(alice: Any) -> None:
    fail("alice", 5)
    age_attempts(11)
    for _ in range(3):
        sign_in("alice", "wrong-password")
    assert "Try again in 4 minutes" in sign_in("alice", PASSWORD).content.decode()


def test_the_lock_lifts_by_itself_after_the_lockout(alice: Any) -> None:
    fail("alice", 5)
    age_attempts(16)
    assert signed_in(sign_in("alice", PASSWORD))


def test_failures_further_apart_than_the_lockout_do_not_add_up(alice: Any) -> None:
    fail("alice", 4)
    age_attempts(16)
    assert fail("alice", 4).status_code == 200
    assert signed_in(sign_in("alice", PASSWORD))


def test_a_lock_is_per_username_and_address_pair(alice: Any, bob: Any) -> None:
    fail("alice", 5, REMOTE_ADDR="192.0.2.10")
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 429
    # The same address for another account, and the same account from another address, work.
    assert signed_in(sign_in("bob", PASSWORD, REMOTE_ADDR="192.0.2.10"))
    assert signed_in(sign_in("alice", PASSWORD, REMOTE_ADDR="192.0.2.11"))


def test_another_user_agent_is_the_same_pair(alice: Any) -> None:
    for n in range(5):
        sign_in("alice", "wrong-password", HTTP_USER_AGENT=f"browser {n}")
    assert sign_in("alice", PASSWORD, HTTP_USER_AGENT="yet another").status_code == 429


def test_a_successful_sign_in_starts_the_count_afresh(alice: Any) -> None:
    fail("alice", 4)
    assert signed_in(sign_in("alice", PASSWORD))
    fail("alice", 4)
    assert signed_in(sign_in("alice", PASSWORD))


def test_refusals_while_locked_are_audited_at_most_once_a_minute(alice: Any) -> None:
    fail("alice", 5)
    for _ in range(5):
        sign_in("alice", PASSWORD)
    assert AuditEvent.objects.filter(action="sign_in_locked").count() == 1
    # Refusals are not failed sign-ins: the trail keeps the five real ones.
    assert AuditEvent.objects.filter(action="sign_in", outcome="failed").count() == 5
    AuditEvent.objects.filter(action="sign_in_locked").update(
        at=timezone.now() - timedelta(seconds=61)
    )
    sign_in("alice", PASSWORD)
    refused = AuditEvent.objects.filter(action="sign_in_locked").order_by("-at").first()
    assert refused is not None
    assert refused.detail == "sign-in refused: locked out"
    assert AuditEvent.objects.filter(action="sign_in_locked").count() == 2


@override_settings(SIGN_IN_ATTEMPTS=3, SIGN_IN_LOCKOUT=120)
def test_limit_and_lockout_are_settings(alice: Any) -> None:
    fail("alice", 2)
    response = sign_in("alice", "wrong-password")
    assert response.status_code == 429
    assert "Try again in 2 minutes" in response.content.decode()


def test_the_admin_sign_in_is_throttled_too(alice: Any, admin: Any) -> None:
    fail("admin", 5)
    response = Client().post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()


def test_odd_usernames_and_headers_are_refused_cleanly(alice: Any) -> None:
    # NUL bytes and overlong values, which PostgreSQL would refuse to store, never reach a query.
    assert sign_in("ali\x00ce", "x").status_code == 400  # a NUL in any form value
    assert sign_in("a" * 300, "x").status_code == 200
    response = sign_in("alice", "wrong", HTTP_USER_AGENT="agent\x00" + "x" * 400)
    assert response.status_code == 200
    attempt = AccessAttempt.objects.get(username="alice")
    assert "\x00" not in attempt.user_agent and len(attempt.user_agent) <= 255


# -- behind a reverse proxy ----------------------------------------------------------------------


@override_settings(**BEHIND_PROXY)
def test_behind_a_proxy_the_forwarded_client_address_is_locked(alice: Any, bob: Any) -> None:
    fail("alice", 5, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    locked = sign_in("alice", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert locked.status_code == 429
    assert AuditEvent.objects.filter(action="sign_in_locked", ip="203.0.113.5").exists()
    # A forged hop on the left changes nothing: the proxy appended the real address.
    forged = sign_in(
        "alice", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.5"
    )
    assert forged.status_code == 429
    # Everyone else behind the same proxy signs in.
    assert signed_in(
        sign_in("alice", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.6")
    )
    assert signed_in(
        sign_in("bob", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    )


@override_settings(**BEHIND_PROXY)
def test_rotating_forged_hops_does_not_get_around_the_lock(alice: Any) -> None:
    for n in range(8):
        sign_in(
            "alice",
            "wrong-password",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.5",
        )
    assert AuditEvent.objects.filter(action="sign_in", outcome="failed").count() == 5


@override_settings(**BEHIND_PROXY)
def test_a_proxy_that_forwards_no_address_never_locks_out_everyone(alice: Any, bob: Any) -> None:
    # Misconfigured proxy: every request arrives from it without X-Forwarded-For.
    fail("alice", 5, REMOTE_ADDR=PROXY)
    assert sign_in("alice", PASSWORD, REMOTE_ADDR=PROXY).status_code == 429
    assert signed_in(sign_in("bob", PASSWORD, REMOTE_ADDR=PROXY))


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        # Not configured: REMOTE_ADDR, whatever the header says.
        (0, "192.0.2.1", "203.0.113.5", "192.0.2.1"),
        # One proxy: the hop it appended.
        (1, PROXY, "203.0.113.5", "203.0.113.5"),
        (1, PROXY, "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        (1, PROXY, "", PROXY),
        # Two proxies: the hop before both.
        (2, PROXY, "6.6.6.6, 203.0.113.5, 10.0.0.1", "203.0.113.5"),
        # Fewer hops than proxies: the header cannot be right, so the connection's address.
        (2, PROXY, "203.0.113.5", PROXY),
        # Ports and brackets are dropped; IPv6 is normalised; RFC 7239 style is read.
        (1, PROXY, "203.0.113.5:4711", "203.0.113.5"),
        (1, PROXY, "[2001:DB8::1]:443", "2001:db8::1"),
        (1, PROXY, 'for="[2001:db8::7]:80"', "2001:db8::7"),
        # A garbled hop where the client should be: fall back to the proxy's address; a garbled
        # one further left is the client's own and is skipped.
        (1, PROXY, "not-an-address", PROXY),
        (1, PROXY, "junk, 203.0.113.5", "203.0.113.5"),
        # Trusted networks: walk right to left past them.
        (["10.0.0.0/8"], PROXY, "6.6.6.6, 203.0.113.5, 10.1.2.3", "203.0.113.5"),
        (["10.0.0.0/8"], "192.0.2.77", "203.0.113.5", "192.0.2.77"),
        (["10.0.0.0/8"], PROXY, "10.9.9.9", "10.9.9.9"),
        (["10.0.0.0/8", "2001:db8:1::/48"], "2001:db8:1::5", "203.0.113.9", "203.0.113.9"),
    ],
)
def test_client_address(trusted: Any, remote: str, forwarded: str, expected: str) -> None:
    if isinstance(trusted, list):
        trusted = [ipaddress.ip_network(n) for n in trusted]
    meta = {"REMOTE_ADDR": remote}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **meta)  # type: ignore[arg-type]
    with override_settings(CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR", TRUSTED_PROXIES=trusted):
        assert client_ip(request) == expected


def test_without_a_valid_address_there_is_none() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="not an address")
    assert client_ip(request) is None


def test_proxy_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_CLIENT_IP_HEADER", "X-Real-IP")
    assert dashboard_settings._meta_key("DASHBOARD_CLIENT_IP_HEADER") == "HTTP_X_REAL_IP"
    monkeypatch.setenv("DASHBOARD_TRUSTED_PROXIES", "2")
    assert dashboard_settings._trusted_proxies("DASHBOARD_TRUSTED_PROXIES", "1") == 2
    monkeypatch.setenv("DASHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    networks = dashboard_settings._trusted_proxies("DASHBOARD_TRUSTED_PROXIES", "1")
    assert [str(n) for n in networks] == ["10.0.0.0/8", "192.0.2.1/32"]  # type: ignore[union-attr]
    monkeypatch.setenv("DASHBOARD_TRUSTED_PROXIES", "the proxy")
    with pytest.raises(ImproperlyConfigured, match="DASHBOARD_TRUSTED_PROXIES must be"):
        dashboard_settings._trusted_proxies("DASHBOARD_TRUSTED_PROXIES", "1")
    monkeypatch.delenv("DASHBOARD_TRUSTED_PROXIES")
    assert dashboard_settings._trusted_proxies("DASHBOARD_TRUSTED_PROXIES", "1") == 1


# -- unlocking on the Team page ----------------------------------------------------------------


def test_admin_sees_and_unlocks_a_locked_sign_in(client: Client, admin: Any, alice: Any) -> None:
    fail("alice", 5, REMOTE_ADDR="192.0.2.10")
    client.force_login(admin)
    page = client.get("/team/").content.decode()
    assert "Locked sign-ins" in page
    assert "192.0.2.10" in page and "15 minutes" in page and "sign-in locked" in page
    response = client.post("/team/unlock/", {"username": "alice"}, follow=True)
    page = response.content.decode()
    assert "Unlocked alice: they can sign in again from any address." in page
    assert "Locked sign-ins" not in page
    event = AuditEvent.objects.get(action="sign_in_unlocked")
    assert (event.actor, event.detail) == (admin, "alice (from 192.0.2.10)")
    assert signed_in(sign_in("alice", PASSWORD, REMOTE_ADDR="192.0.2.10"))


def test_htmx_unlock_returns_the_locks_fragment(client: Client, admin: Any, alice: Any) -> None:
    fail("alice", 5)
    client.force_login(admin)
    response = client.post("/team/unlock/", {"username": "alice"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="locks"')
    assert "Unlocked alice" in page and "<table" not in page


def test_unlock_without_a_username_or_lock_says_so(client: Client, admin: Any) -> None:
    client.force_login(admin)
    response = client.post("/team/unlock/", {}, follow=True)
    assert "Choose a username to unlock." in response.content.decode()
    response = client.post("/team/unlock/", {"username": "nobody"}, follow=True)
    assert "nobody was not locked." in response.content.decode()
    assert not AuditEvent.objects.filter(action="sign_in_unlocked").exists()


def test_only_admins_unlock(client: Client, operator: Any, alice: Any) -> None:
    fail("alice", 5)
    client.force_login(operator)
    assert client.post("/team/unlock/", {"username": "alice"}).status_code == 403
    assert sign_in("alice", PASSWORD).status_code == 429


def test_a_token_like_username_can_be_unlocked(make_user: Any) -> None:
    make_user("cog_robot_account")
    fail("cog_robot_account", 5)
    assert signin.current_locks(username="cog_robot_account", ip="127.0.0.1")
    assert signin.unlock("cog_robot_account") == 1
    assert not signin.current_locks()
    assert signed_in(sign_in("cog_robot_account", PASSWORD))
