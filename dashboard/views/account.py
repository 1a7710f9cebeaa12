"""Your account: your roles, your password, your other sessions; and the page of a one-time
reset link, which works signed out."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from dashboard import accounts, audit, signin
from dashboard.access import is_site_admin, roles_by_org
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import Membership, Organization
from dashboard.proxyauth import signed_in_by_proxy

# What a reset link's two parts can be (base64url): anything else is not one of our links.
LINK_PART = re.compile(r"[A-Za-z0-9_-]{1,100}")
SAME_PASSWORD = "Choose a password different from the current one."


def _roles(user: User) -> list[tuple[Organization, str]]:
    roles = roles_by_org(user)
    orgs = Organization.objects.filter(pk__in=roles).order_by("name")
    return [(org, Membership.Role(roles[org.pk]).label) for org in orgs]


@require_GET
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "nav": "account",
        "roles": _roles(user),
        "admin": is_site_admin(user),
        "has_password": user.has_usable_password(),
        "via_proxy": signed_in_by_proxy(request),
    }
    return render(request, "dashboard/account.html", context)


@require_POST
def sign_out_everywhere(request: AuthenticatedHttpRequest) -> HttpResponse:
    ended = accounts.end_other_sessions(request.user, keep=request.session.session_key)
    audit.record("signed_out_elsewhere", request=request, detail=f"{ended} other sessions ended")
    if ended:
        message = f"Signed out {ended} other session{'s' if ended > 1 else ''}. This one stays."
    else:
        message = "No other session was open."
    if request.htmx:
        return render(request, "dashboard/account.html#other-sessions", {"ended": message})
    messages.success(request, message)
    return redirect("account")


class ChangePasswordForm(PasswordChangeForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        new = cleaned.get("new_password1")
        if new and new == cleaned.get("old_password") and not self.has_error("new_password2"):
            self.add_error("new_password1", forms.ValidationError(SAME_PASSWORD, code="same"))
        return cleaned


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change (it keeps this session and ends the others), in our layout."""

    template_name = "registration/password_change.html"
    form_class = ChangePasswordForm
    success_url = reverse_lazy("account")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and not user.has_usable_password():
            # Signed in through the proxy, or reset by a link not yet used: nothing to change.
            return render(request, self.template_name, {"nav": "account", "no_password": True})
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        forced = bool(self.request.session.get(accounts.MUST_CHANGE))
        return super().get_context_data(nav="account", forced=forced, **kwargs)

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        accounts.set_must_change_password(form.user, False)
        self.request.session.pop(accounts.MUST_CHANGE, None)
        audit.record("password_changed", request=self.request, detail="by themself")
        messages.success(
            self.request, "Your password is changed. Your other sessions are signed out."
        )
        return response


password_change = PasswordChangeView.as_view()


def _invalid_link(request: HttpRequest, status: int) -> HttpResponse:
    return render(
        request, "registration/password_reset_confirm.html", {"validlink": False}, status=status
    )


@login_not_required
@never_cache
@require_GET
def reset_link(request: HttpRequest) -> HttpResponse:
    """A one-time link's landing: its token moves into the session, and the browser on to the
    form, so that the token is in no page's address (nor a Referer) from then on."""
    uidb64, token = request.GET.get("u", ""), request.GET.get("t", "")
    if not (LINK_PART.fullmatch(uidb64) and LINK_PART.fullmatch(token)):
        return _invalid_link(request, 400)
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return _invalid_link(request, 200)
    request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN] = token
    return redirect("password_reset_confirm", uidb64=uidb64)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's "choose a new password" step of a reset link (the token is in the session)."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        accounts.set_must_change_password(user, False)
        signin.unlock(user.get_username(), request=self.request, actor=user)
        audit.record(
            "password_changed", request=self.request, actor=user, detail="with a one-time link"
        )
        messages.success(self.request, "Your password is set. Sign in with it.")
        return response


reset_confirm = PasswordResetConfirmView.as_view()
