"""Sign-in throttling: repeated failed sign-ins for one username from one address lock that pair.

The count comes from the audit trail, which records every failed sign-in anyway (signals.py):
it is shared by all workers, survives restarts and needs no table or cache of its own, and being
append-only nobody can quietly reset it. A lock is on a (username, client address) pair, never on
an address alone: behind a proxy that does not pass the client's address on, every request comes
from the proxy, and one person guessing passwords must not lock out everyone else.

A pair is locked while it has SIGN_IN_ATTEMPTS failures younger than SIGN_IN_LOCKOUT seconds. A
successful sign-in from that address, or an admin's unlock of the username (a `sign_in_unlocked`
event), starts the count afresh. While locked, the password is not even checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.utils import timezone

from dashboard import audit
from dashboard.logs import redact
from dashboard.models import AuditEvent
from dashboard.timewords import duration_words

Outcome = AuditEvent.Outcome
SIGN_IN = "sign_in"
LOCKED = "sign_in_locked"
UNLOCKED = "sign_in_unlocked"
# Refused attempts of a locked pair are audited at most this often, so a flood of them cannot
# fill the database.
REFUSAL_AUDIT_EVERY = timedelta(seconds=60)
LOCKED_MESSAGE = (
    "Too many failed sign-ins for this account from your address. "
    "Try again in %(wait)s or ask an admin to unlock it."
)


def _window() -> timedelta:
    return timedelta(seconds=settings.SIGN_IN_LOCKOUT)


def _unlock_detail(username: str) -> str:
    # audit.record redacts details: a username that looks like a token is stored redacted, so
    # compare with what was stored.
    return redact(username)[:2000]


def locked_for(username: str, ip: str | None, *, now: datetime | None = None) -> int:
    """Seconds until `username` may try again from `ip`; 0 when the pair is not locked."""
    if not username:
        return 0
    now = now or timezone.now()
    since = now - _window()
    reset = AuditEvent.objects.filter(
        Q(action=SIGN_IN, outcome=Outcome.OK, actor_name=username, ip=ip)
        | Q(action=UNLOCKED, detail=_unlock_detail(username)),
        at__gt=since,
    ).aggregate(last=Max("at"))["last"]
    failures = list(
        AuditEvent.objects.filter(
            action=SIGN_IN,
            outcome=Outcome.FAILED,
            actor_name=username,
            ip=ip,
            at__gt=max(since, reset) if reset else since,
        )
        .order_by("-at")
        .values_list("at", flat=True)[: settings.SIGN_IN_ATTEMPTS]
    )
    if len(failures) < settings.SIGN_IN_ATTEMPTS:
        return 0
    # Unlocked when the oldest of the last N failures leaves the window.
    return max(1, math.ceil((failures[-1] + _window() - now).total_seconds()))


@dataclass
class Lock:
    username: str
    ip: str | None
    failures: int
    seconds: int

    @property
    def wait(self) -> str:
        return duration_words(self.seconds)


def current_locks(*, now: datetime | None = None, limit: int = 500) -> list[Lock]:
    """Every locked (username, address) pair, by username."""
    now = now or timezone.now()
    pairs = (
        AuditEvent.objects.filter(action=SIGN_IN, outcome=Outcome.FAILED, at__gt=now - _window())
        .order_by()
        .values("actor_name", "ip")
        .annotate(failures=Count("pk"))
        .filter(failures__gte=settings.SIGN_IN_ATTEMPTS)
        .order_by("actor_name", "ip")[:limit]
    )
    locks = []
    for pair in pairs:
        seconds = locked_for(pair["actor_name"], pair["ip"], now=now)
        if seconds:
            locks.append(Lock(pair["actor_name"], pair["ip"], pair["failures"], seconds))
    return locks


def unlock(username: str, *, request: Any = None, actor_name: str = "") -> None:
    """Let `username` sign in again from every address (audited)."""
    audit.record(UNLOCKED, request=request, detail=_unlock_detail(username), actor_name=actor_name)


def _refused(request: Any, username: str, ip: str | None, detail: str) -> None:
    recent = AuditEvent.objects.filter(
        action=LOCKED, actor_name=username, ip=ip, at__gt=timezone.now() - REFUSAL_AUDIT_EVERY
    )
    if not recent.exists():
        audit.record(
            LOCKED,
            request=request,
            outcome=Outcome.DENIED,
            actor_name=username[:150],
            detail=detail,
            ip=ip,
        )


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing a locked (username, address) pair before the password."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip = audit.client_ip(self.request)
        wait = locked_for(username, ip)
        if wait:
            _refused(self.request, username, ip, "sign-in refused: locked out")
            raise self._locked(wait)
        try:
            return super().clean()
        except ValidationError:
            # This failure (audited by signals.py) may have been the last one allowed.
            wait = locked_for(username, ip)
            if wait:
                _refused(
                    self.request,
                    username,
                    ip,
                    f"locked after {settings.SIGN_IN_ATTEMPTS} failed sign-ins",
                )
                raise self._locked(wait) from None
            raise

    def _locked(self, seconds: int) -> ValidationError:
        return ValidationError(
            LOCKED_MESSAGE, code="locked", params={"wait": duration_words(seconds)}
        )
