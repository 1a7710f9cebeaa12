"""Signal receivers: the audit trail of sign-ins (Django's and django-axes' signals), and the
forced password change carried from a user's profile into their session at sign-in."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from dashboard import accounts, audit, proxies, signin
from dashboard.models import AuditEvent
from dashboard.proxyauth import BACKEND

log = logging.getLogger("dashboard.signin")
# Refused attempts of a locked pair are audited at most this often, so that a flood of them
# cannot fill the database.
REFUSAL_AUDIT_EVERY = timedelta(seconds=60)


@receiver(user_logged_in)
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit.record("sign_in", request=request, actor=user)
    # A one-time password forces a change at a password sign-in, not at the proxy's.
    if request is None or request.session.get(BACKEND_SESSION_KEY) == BACKEND:
        return
    if accounts.must_change_password(user):
        request.session[accounts.MUST_CHANGE] = True


@receiver(user_logged_out)
def _signed_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit.record("sign_out", request=request, actor=user)


@receiver(user_login_failed)
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None and not getattr(request, signin.COUNTED, False):
        return  # refused before its password was checked: audited as sign_in_locked below
    audit.record(
        "sign_in",
        request=request,
        outcome=AuditEvent.Outcome.FAILED,
        actor_name=str(credentials.get("username", ""))[:150],
    )


@receiver(user_locked_out)
def _locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    name = (username or "")[:150]
    number = getattr(request, signin.COUNTED, 0)
    if number:
        if number < settings.SIGN_IN_ATTEMPTS:
            return  # checked alongside the one that locked: its failure is audited already
        detail = f"locked after {settings.SIGN_IN_ATTEMPTS} failed sign-ins"
        log.warning("sign-in locked", extra={"username": name, "client": ip_address or "-"})
    else:
        detail = "sign-in refused: locked out"
    # In turn with the pair's other attempts, so that simultaneous refusals record one event.
    with signin.serialized(name):
        recent = AuditEvent.objects.filter(
            action="sign_in_locked",
            actor_name=name,
            ip=ip_address,
            at__gt=timezone.now() - REFUSAL_AUDIT_EVERY,
        )
        if not number and recent.exists():
            return
        audit.record(
            "sign_in_locked",
            request=request,
            outcome=AuditEvent.Outcome.DENIED,
            actor_name=name,
            detail=detail,
            ip=ip_address or proxies.client_ip(request),
        )
