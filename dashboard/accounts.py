"""Passwords and sessions of people: one-time passwords and links that admins hand out, the
change a one-time password forces at the next sign-in, and ending a user's other sessions.

Secrets made here (a one-time password, a reset link) are shown once, in the response to the
admin who asked, and nowhere else: not in a flash message (those live in a cookie), not in the
audit trail, not in a log line. A reset link carries its token in the query string, which the
request log lines (ours and gunicorn's) leave out; its path never holds it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session as DbSession
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_htmx.http import HttpResponseClientRedirect

from dashboard.models import Profile

# In the session, from sign-in until the password is changed (copied from the profile then).
MUST_CHANGE = "dashboard_must_change_password"
# No 0/O, 1/l/I: a one-time password is read off a screen and typed in.
ALPHABET = "23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
# 16 characters of 56: ~93 bits, in groups of four.
OTP_GROUPS = 4


def must_change_password(user: User) -> bool:
    return Profile.objects.filter(user=user, must_change_password=True).exists()


def set_must_change_password(user: User, value: bool) -> None:
    Profile.objects.update_or_create(user=user, defaults={"must_change_password": value})


def one_time_password() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(OTP_GROUPS))
    return "-".join(groups)


def give_one_time_password(user: User) -> str:
    """A new password for `user`, to be changed at their next sign-in. Ends their sessions
    (Django ties each session to the password hash)."""
    password = one_time_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    set_must_change_password(user, True)
    return password


def give_reset_link(request: HttpRequest, user: User) -> str:
    """A link with which `user` chooses a new password: valid PASSWORD_RESET_TIMEOUT, and once.

    Their current password stops working now (and their sessions end): a reset is also what an
    admin does for an account that may be in the wrong hands. Django's token is tied to the
    password hash and the last sign-in: setting a password with it, or a newer link, spends it.
    """
    user.set_unusable_password()
    user.save(update_fields=["password"])
    set_must_change_password(user, False)
    query = urlencode(
        {
            "u": urlsafe_base64_encode(force_bytes(user.pk)),
            "t": default_token_generator.make_token(user),
        }
    )
    return request.build_absolute_uri(f"{reverse('password_reset_link')}?{query}")


def link_hours() -> int:
    return round(settings.PASSWORD_RESET_TIMEOUT / 3600)


def end_other_sessions(user: User, keep: str | None) -> int:
    """Delete every stored sign-in session of `user` but the one keyed `keep`; returns how many."""
    mine = str(user.pk)
    ended = []
    store = SessionStore()
    for key, data in (
        DbSession.objects.filter(expire_date__gt=timezone.now())
        .exclude(session_key=keep)
        .values_list("session_key", "session_data")
        .iterator(chunk_size=500)
    ):
        if store.decode(data).get("_auth_user_id") == mine:
            ended.append(key)
    DbSession.objects.filter(session_key__in=ended).delete()
    return len(ended)


# Where a user who must change their password may still go.
ALLOWED_URL_NAMES = (
    "password_change",
    "logout",
    "password_reset_link",
    "password_reset_confirm",
    "healthz",
)


class PasswordChangeRequiredMiddleware:
    """After a sign-in with a one-time password, every page leads to the password change."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: object, args: object, kwargs: object
    ) -> HttpResponseBase | None:
        if not request.session.get(MUST_CHANGE) or not request.user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALLOWED_URL_NAMES:
            return None
        return self.lead_to_change(request)

    def lead_to_change(self, request: HttpRequest) -> HttpResponseBase:
        url = reverse("password_change")
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(url)
        messages.warning(
            request, "You signed in with a one-time password: choose your own to continue."
        )
        return redirect(url)
