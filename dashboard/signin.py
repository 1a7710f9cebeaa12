"""Sign-in throttling, by django-axes: a (username, client address) pair is locked after
SIGN_IN_ATTEMPTS failed sign-ins, each within SIGN_IN_LOCKOUT seconds of the one before, until
SIGN_IN_LOCKOUT seconds after the last one, or until an admin unlocks the username.

A lock is on a pair, never on an address alone: behind a proxy that does not pass the client's
address on, every request comes from the proxy, and one person guessing must not lock out the rest.

Axes' own backend checks the count, lets the password be checked, then counts the failure: N
simultaneous guesses all pass the check before any of them is counted, so 40 of them got 40
password checks. Here the attempt is counted *before* its password is checked, in a transaction
serialized per username (PostgreSQL: an advisory lock on the username; SQLite: the database's
write lock, which our IMMEDIATE transactions take at BEGIN), so the limit bounds the checks
themselves. A sign-in that succeeds then clears the pair's count (AXES_RESET_ON_SUCCESS).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_credentials
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from dashboard import audit
from dashboard.timewords import duration_words

# Set on a request whose attempt was counted before its password was checked: its number among
# the pair's counted failures (the one numbered SIGN_IN_ATTEMPTS is the one that locks).
COUNTED = "dashboard_sign_in_counted"
LOCKED_MESSAGE = (
    "Too many failed sign-ins for this account from your address. "
    "Try again in {wait} or ask an admin to unlock it."
)
# Namespace of the PostgreSQL advisory locks taken here (any constant that no other code uses).
ADVISORY_LOCK_CLASS = 0x5167
USERNAME_LENGTH = User._meta.get_field("username").max_length or 150


def failure_limit(request: HttpRequest | None, credentials: dict[str, object] | None) -> int:
    """AXES_FAILURE_LIMIT: read at each use, so that tests and settings agree."""
    return int(settings.SIGN_IN_ATTEMPTS)


def cool_off(request: HttpRequest | None = None) -> timedelta:
    """AXES_COOLOFF_TIME."""
    return timedelta(seconds=settings.SIGN_IN_LOCKOUT)


def _name(username: object) -> str:
    # Django's sign-in form lets a username longer than any user's through; PostgreSQL would
    # refuse to store it. No user has a longer one, so the cut never merges two real accounts.
    return str(username or "")[:USERNAME_LENGTH]


def _clean(value: str) -> str:
    # PostgreSQL refuses NUL in text, and headers are the client's to fill.
    return value.replace("\x00", "")


@contextmanager
def serialized(username: str) -> Iterator[None]:
    """A transaction that concurrent ones for the same username wait for, in turn."""
    using = router.db_for_write(AccessAttempt)
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            key = zlib.crc32(username.encode()) - 2**31  # int4: pg_advisory_xact_lock(int, int)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, key])
        # SQLite: the transaction began with BEGIN IMMEDIATE (settings.DATABASES), which holds
        # the database's one write lock already; every other writer waits for it.
        yield


class GatedHandler(AxesDatabaseHandler):
    """Axes' database handler, counting an attempt before its password is checked (`count`)."""

    def count(self, request: HttpRequest, credentials: dict[str, object]) -> bool:
        """Count one more attempt for the pair, unless it is locked; False when locked."""
        username = get_client_username(request, credentials)
        with serialized(username):
            self.clean_expired_user_attempts(request, credentials)
            if not self.is_allowed(request, credentials):
                return False
            number = self.get_failures(request, credentials) + 1
            # Keyed as axes keys it (the user agent too); the lock sums the pair's rows.
            attempt, created = AccessAttempt.objects.get_or_create(
                username=username,
                ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
                user_agent=_clean(request.axes_user_agent),  # type: ignore[attr-defined]
                defaults={
                    "get_data": "",
                    "post_data": "",
                    "http_accept": _clean(request.axes_http_accept),  # type: ignore[attr-defined]
                    "path_info": _clean(request.axes_path_info),  # type: ignore[attr-defined]
                    "failures_since_start": 1,
                    "attempt_time": request.axes_attempt_time,  # type: ignore[attr-defined]
                },
            )
            if not created:
                AccessAttempt.objects.filter(pk=attempt.pk).update(
                    failures_since_start=F("failures_since_start") + 1,
                    attempt_time=request.axes_attempt_time,  # type: ignore[attr-defined]
                )
        setattr(request, COUNTED, number)
        return True

    def user_login_failed(
        self,
        sender: object,
        credentials: dict[str, object],
        request: HttpRequest | None = None,
        **kwargs: object,
    ) -> None:
        """Lock the pair if this (already counted) failure was the last one allowed."""
        if request is None:
            return
        username = _name(get_client_username(request, credentials))
        credentials = get_credentials(username)
        ip = request.axes_ip_address  # type: ignore[attr-defined]
        if request.axes_locked_out:  # type: ignore[attr-defined]
            # Refused by ThrottleBackend: its password was never checked.
            user_locked_out.send("axes", request=request, username=username, ip_address=ip)
            return
        if not getattr(request, COUNTED, False):
            return  # not a password sign-in (e.g. the proxy's header), nothing to count
        failures = self.get_failures(request, credentials)
        request.axes_failures_since_start = failures  # type: ignore[attr-defined]
        if failures >= failure_limit(request, credentials):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            user_locked_out.send("axes", request=request, username=username, ip_address=ip)


class ThrottleBackend(AxesStandaloneBackend):
    """First in AUTHENTICATION_BACKENDS: counts the attempt, or refuses a locked pair, before
    ModelBackend (next) checks the password. Every sign-in form goes through it, admin's too."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: object,
    ) -> None:
        if username is None or password is None:
            return None  # not a password sign-in
        if request is None:
            # Code calling authenticate() itself (a script, the test client's login()): there is
            # no client to throttle. Every sign-in form passes its request.
            return None
        credentials = get_credentials(_name(username))
        AxesProxyHandler.update_request(request)
        handler = AxesProxyHandler.get_implementation()
        if not isinstance(handler, GatedHandler):
            raise ImproperlyConfigured("AXES_HANDLER must be dashboard.signin.GatedHandler.")
        if not handler.count(request, credentials):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise AxesBackendPermissionDenied("Locked out: too many failed sign-ins.")
        return None  # counted: ModelBackend checks the password


@dataclass
class Lock:
    username: str
    ip: str | None
    failures: int
    seconds: int

    @property
    def wait(self) -> str:
        return duration_words(self.seconds)


def current_locks(*, username: str | None = None, ip: str | None = None) -> list[Lock]:
    """Locked (username, address) pairs, by username; only that pair's when given."""
    now = timezone.now()
    window = cool_off()
    rows = AccessAttempt.objects.filter(attempt_time__gt=now - window)
    if username is not None:
        rows = rows.filter(username=username, ip_address=ip)
    pairs: dict[tuple[str, str | None], list[tuple[datetime, int]]] = {}
    for name, address, at, failures in rows.values_list(
        "username", "ip_address", "attempt_time", "failures_since_start"
    ):
        pairs.setdefault((name or "", address), []).append((at, failures))
    limit = failure_limit(None, None)
    locks = []
    for (name, address), attempts in sorted(pairs.items(), key=lambda p: (p[0][0], p[0][1] or "")):
        # Rows per user agent: the pair stays locked while its newest rows still add up to the
        # limit, i.e. until the row that reaches it leaves the window.
        total = 0
        for at, failures in sorted(attempts, reverse=True):
            total += failures
            if total >= limit:
                seconds = math.ceil((at + window - now).total_seconds())
                locks.append(Lock(name, address, total, max(1, seconds)))
                break
    return locks


def unlock(username: str, *, request: HttpRequest | None = None, actor: User | None = None) -> int:
    """Let `username` sign in again from every address (audited when a lock was lifted)."""
    locked = [
        lock.ip or "an unknown address" for lock in current_locks() if lock.username == username
    ]
    reset(username=username)
    if locked:
        audit.record(
            "sign_in_unlocked",
            request=request,
            actor=actor,
            detail=f"{username} (from {', '.join(locked)})",
        )
    return len(locked)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, object] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page, saying how long the lock lasts (429)."""
    username = _name(get_client_username(request, credentials))
    ip = getattr(request, "axes_ip_address", None)
    locks = current_locks(username=username, ip=ip)
    seconds = locks[0].seconds if locks else int(cool_off().total_seconds())
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked": LOCKED_MESSAGE.format(wait=duration_words(seconds))}
    return render(request, "registration/login.html", context, status=429)
