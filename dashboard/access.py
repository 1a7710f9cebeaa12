"""Who may see and do what. Every view goes through these helpers; templates never decide access."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import Membership, Organization, Session

OPERATOR = Membership.Role.OPERATOR
VIEWER = Membership.Role.VIEWER
VIEWERS_CANNOT_ACT = "Viewers cannot change sessions. Ask an admin for the operator role."


def is_site_admin(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def visible_orgs(user: User) -> QuerySet[Organization]:
    """The orgs a user belongs to (all of them for a site admin)."""
    return visible_orgs_of(user.pk, site_admin=is_site_admin(user))


def visible_orgs_of(user_pk: int, *, site_admin: bool) -> QuerySet[Organization]:
    """`visible_orgs` of a user known by pk: the same query, for one compiled once and kept."""
    if site_admin:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user_id=user_pk)


def orgs_and_operator_orgs(user: User) -> tuple[list[Organization], frozenset[int]]:
    """`visible_orgs` and the pks of those where the user may act (`operator_orgs`), in one
    query: the sessions page needs both on every view."""
    if is_site_admin(user):
        orgs = list(Organization.objects.all())
        return orgs, frozenset(org.pk for org in orgs)
    # One membership per user and org (a constraint): the join adds no row.
    orgs = list(visible_orgs(user).annotate(my_role=F("memberships__role")))
    return orgs, frozenset(org.pk for org in orgs if org.my_role == OPERATOR)  # type: ignore[attr-defined]


def role_in(user: User, org: Organization) -> str | None:
    if is_site_admin(user):
        return OPERATOR
    membership = Membership.objects.filter(user=user, org=org).only("role").first()
    return membership.role if membership else None


def roles_by_org(user: User) -> dict[int, str]:
    """{org pk: role} for every org the user can see, in one query."""
    if is_site_admin(user):
        return dict.fromkeys(Organization.objects.values_list("pk", flat=True), OPERATOR)
    return dict(Membership.objects.filter(user=user).values_list("org_id", "role"))


def operator_orgs(user: User) -> frozenset[int]:
    """The pks of the orgs in which the user may act (sync, track, archive)."""
    return frozenset(pk for pk, role in roles_by_org(user).items() if role == OPERATOR)


def require_operator(request: AuthenticatedHttpRequest) -> frozenset[int]:
    """The user's operator orgs; a viewer everywhere gets a 403 (only a forged POST gets here)."""
    orgs = operator_orgs(request.user)
    if not orgs:
        raise PermissionDenied(VIEWERS_CANNOT_ACT)
    return orgs


def org_for_user(request: AuthenticatedHttpRequest, pk: int, role: str = VIEWER) -> Organization:
    """The org if the user may act on it with `role`: another org is a 404, too low a role 403."""
    org = get_object_or_404(Organization, pk=pk)
    _check_role(request.user, org, role)
    return org


def session_for_user(request: AuthenticatedHttpRequest, pk: int, role: str = VIEWER) -> Session:
    """The session if the user may see it (act on it, with OPERATOR), as `org_for_user` decides."""
    session = get_object_or_404(Session.objects.select_related("org"), pk=pk)
    # The org came with the session: checked as it is, not read a second time.
    _check_role(request.user, session.org, role)
    return session


def _check_role(user: User, org: Organization, role: str) -> None:
    have = role_in(user, org)
    if have is None:
        raise Http404("No such organization.")
    if role == OPERATOR and have != OPERATOR:
        raise PermissionDenied(VIEWERS_CANNOT_ACT)


def require_site_admin(request: AuthenticatedHttpRequest) -> None:
    if not is_site_admin(request.user):
        raise PermissionDenied("Only site admins can do this.")
