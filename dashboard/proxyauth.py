"""Sign-in through the company's authenticating proxy (oauth2-proxy, Authelia, Pomerium, ...).

Opt-in with DASHBOARD_AUTH_HEADER: the proxy signs the person in at the identity provider and
names them in that header on every request. The header is believed only on a connection from
DASHBOARD_TRUSTED_PROXIES; from anywhere else it is ignored and logged, since anyone can send it.
The name is a username, or the email of exactly one user. An unknown name is refused with a page
that says what to do, or, with DASHBOARD_AUTH_CREATE_USERS, becomes a user with no role, whom an
admin then gives roles. Password sign-in keeps working beside it (for a break-glass admin).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, login, logout
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from dashboard import audit
from dashboard.models import AuditEvent
from dashboard.proxies import from_trusted_proxy

log = logging.getLogger("dashboard.proxyauth")
BACKEND = "dashboard.proxyauth.ProxyUserBackend"
# The header's value this session was signed in with: while it stays the same, nothing is looked up.
SESSION_KEY = "dashboard_proxy_user"
NAME_LENGTH = User._meta.get_field("username").max_length or 150


class ProxyUserBackend(BaseBackend):
    """The backend of sessions that the proxy's header opened (see ProxySignInMiddleware).

    It authenticates no credentials (BaseBackend's authenticate() returns None): only the
    middleware signs in through it. Permissions come from ModelBackend, as for anyone.
    """

    def get_user(self, user_id: int) -> User | None:
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


def signed_in_by_proxy(request: HttpRequest) -> bool:
    return bool(request.session.get(BACKEND_SESSION_KEY) == BACKEND)


def find_user(name: str) -> User | None:
    user = User.objects.filter(username=name).first()
    if user is None and "@" in name:
        matches = list(User.objects.filter(email__iexact=name)[:2])
        user = matches[0] if len(matches) == 1 else None
    return user


def _create(request: HttpRequest, name: str) -> User:
    try:
        with transaction.atomic():
            user = User(username=name, email=name if "@" in name else "")
            user.set_unusable_password()
            user.save()
    except IntegrityError:  # the same person's other request, a moment earlier
        return User.objects.get(username=name)
    audit.record(
        "user_created",
        request=request,
        actor_name="sign-in proxy",
        detail=f"{name} (first sign-in through the proxy; no roles yet)",
    )
    return user


def _refuse(request: HttpRequest, name: str, reason: str, status: int) -> HttpResponse:
    audit.record(
        "sign_in",
        request=request,
        outcome=AuditEvent.Outcome.FAILED,
        # A NUL from the header would be refused by PostgreSQL.
        actor_name=name.replace("\x00", "\ufffd")[:NAME_LENGTH],
        detail=f"through the sign-in proxy: {reason}",
    )
    context = {
        "name": name,
        "reason": reason,
        "bad_name": status == 400,
        "logout_url": settings.AUTH_LOGOUT_URL,
    }
    return render(request, "registration/proxy_refused.html", context, status=status)


class ProxySignInMiddleware:
    """Signs in the person the trusted proxy names; placed after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if settings.AUTH_HEADER:
            refused = self.sign_in(request, settings.AUTH_HEADER)
            if refused is not None:
                return refused
        return self.get_response(request)

    def sign_in(self, request: HttpRequest, header: str) -> HttpResponse | None:
        name = request.META.get(header)
        if name is not None and not from_trusted_proxy(request):
            log.warning(
                "sign-in header ignored: the request did not come from a trusted proxy",
                extra={
                    "header": header.removeprefix("HTTP_").replace("_", "-").title(),
                    "remote": request.META.get("REMOTE_ADDR", ""),
                },
            )
            name = None
        if name is None:
            # The proxy names the user on every request: without it, its session is over.
            if request.user.is_authenticated and signed_in_by_proxy(request):
                logout(request)
            return None
        name = name.strip()
        if request.user.is_authenticated and request.session.get(SESSION_KEY) == name:
            return None
        if len(name) > NAME_LENGTH:
            return _refuse(request, name[:NAME_LENGTH] + "…", "the name is too long", 400)
        try:
            UnicodeUsernameValidator()(name)
        except ValidationError:
            return _refuse(request, name, "the name has characters a username cannot have", 400)
        user = find_user(name)
        if user is None:
            if not User.objects.exists():
                return None  # first run: the setup page creates the first admin
            if not settings.AUTH_CREATE_USERS:
                return _refuse(request, name, "the dashboard has no user by that name", 403)
            user = _create(request, name)
        if not user.is_active:
            return _refuse(request, name, "that user is deactivated", 403)
        if not (request.user.is_authenticated and request.user.pk == user.pk):
            login(request, user, backend=BACKEND)
        request.session[SESSION_KEY] = name
        return None
