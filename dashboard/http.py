"""Typed requests for the views, and where a plain (non-htmx) POST returns to."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request after django-htmx's middleware (`request.htmx`), for type checking."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that LoginRequiredMiddleware let through: its user is signed in."""

    user: User


def back_url(request: HttpRequest) -> str:
    """Where a non-htmx POST returns to: the page it came from, if it is ours."""
    target = request.POST.get("next") or request.headers.get("referer", "")
    # Without a "/", redirect() would take the target for a URL pattern name.
    if "/" in target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("sessions")
