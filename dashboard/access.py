"""Who may see and do what. Every view goes through these helpers; templates never decide access."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django_htmx.middleware import HtmxDetails

from dashboard.models import Membership, Organization, Session


class HtmxHttpRequest(HttpRequest):
    """A request after django-htmx's middleware, for type checking views (`request.htmx`)."""

    htmx: HtmxDetails


OPERATOR = Membership.Role.OPERATOR
VIEWER = Membership.Role.VIEWER


def is_site_admin(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def visible_orgs(user: Any) -> QuerySet[Organization]:
    """The orgs a user belongs to (all of them for a site admin)."""
    if is_site_admin(user):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user)


def role_in(user: Any, org: Organization) -> str | None:
    if is_site_admin(user):
        return OPERATOR
    membership = Membership.objects.filter(user=user, org=org).only("role").first()
    return membership.role if membership else None


def roles_by_org(user: Any) -> dict[int, str]:
    """{org pk: role} for every org the user can see, in one query."""
    if is_site_admin(user):
        return dict.fromkeys(Organization.objects.values_list("pk", flat=True), OPERATOR)
    return dict(Membership.objects.filter(user=user).values_list("org_id", "role"))


def org_for_user(request: HttpRequest, pk: int, role: str = VIEWER) -> Organization:
    """The org if the user may act on it with `role`: another org is a 404, too low a role 403."""
    org = get_object_or_404(Organization, pk=pk)
    have = role_in(request.user, org)
    if have is None:
        raise Http404("No such organization.")
    if role == OPERATOR and have != OPERATOR:
        raise PermissionDenied(
            "Viewers cannot change sessions. Ask an admin for the operator role."
        )
    return org


def session_for_user(request: HttpRequest, pk: int, role: str = VIEWER) -> Session:
    session = get_object_or_404(Session.objects.select_related("org"), pk=pk)
    org_for_user(request, session.org_id, role)
    return session


def require_site_admin(request: HttpRequest) -> None:
    if not is_site_admin(request.user):
        raise PermissionDenied("Only site admins can do this.")
