"""The team: users, their role in each organization, who is a site admin, password resets and
locked sign-ins. Admins only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from dashboard import accounts, audit, signin
from dashboard.access import require_site_admin
from dashboard.forms import NewUserForm, RolesForm, is_last_active_admin
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, Membership, Organization


def _users() -> QuerySet[User]:
    return User.objects.order_by("username").prefetch_related(
        Prefetch(
            "memberships", queryset=Membership.objects.select_related("org").order_by("org__name")
        )
    )


def _row(
    request: AuthenticatedHttpRequest, member: User, error: str = "", locked: bool = False
) -> dict[str, object]:
    # An admin cannot deactivate themself: the button is not offered (the view refuses too).
    return {
        "member": member,
        "is_me": member.pk == request.user.pk,
        "row_error": error,
        "locked": locked,
    }


def _user_row(request: AuthenticatedHttpRequest, pk: int, error: str = "") -> HttpResponse:
    member = _users().get(pk=pk)
    locked = any(lock.username == member.get_username() for lock in signin.current_locks())
    return render(request, "dashboard/team.html#user-row", _row(request, member, error, locked))


@require_GET
def team(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    locks = signin.current_locks()
    locked = {lock.username for lock in locks}
    rows = [_row(request, m, locked=m.get_username() in locked) for m in _users()]
    return render(request, "dashboard/team.html", {"rows": rows, "locks": locks, "nav": "team"})


@require_POST
def team_unlock(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    username = request.POST.get("username", "")[:150]
    if not username:
        message, ok = "Choose a username to unlock.", False
    elif signin.unlock(username, request=request):
        message, ok = f"Unlocked {username}: they can sign in again from any address.", True
    else:
        message, ok = f"{username} was not locked.", True
    if request.htmx:
        context = {"locks": signin.current_locks(), "unlocked": message, "unlock_ok": ok}
        return render(request, "dashboard/team.html#locks", context)
    (messages.success if ok else messages.error)(request, message)
    return redirect("team")


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def team_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    form = NewUserForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        user = form.save()
        audit.record(
            "user_created",
            request=request,
            detail=f"{user.get_username()}{' (site admin)' if user.is_superuser else ''}",
        )
        messages.success(
            request,
            f"Created {user.get_username()}. "
            + ("They are a site admin." if user.is_superuser else "Now give them a role below."),
        )
        url = reverse("team_user", args=[user.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {"form": form, "nav": "team"}
    if request.htmx:
        return render(request, "dashboard/team_add.html#user-form", context)
    return render(request, "dashboard/team_add.html", context)


@require_http_methods(["GET", "POST"])
def team_user(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_site_admin(request)
    member = get_object_or_404(User, pk=pk)
    form = RolesForm(
        request.POST if request.method == "POST" else None,
        user=member,
        actor=request.user,
        orgs=Organization.objects.all(),
    )
    saved = False
    if form.is_valid():
        with transaction.atomic():
            error = _apply_roles(request, member, form)
        if not request.htmx:
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"Saved {member.get_username()}'s access.")
            return redirect("team")
        # Rebuild the form from what is stored now, for the fragment.
        form = RolesForm(user=member, actor=request.user, orgs=Organization.objects.all())
        if error:
            form.add_error("is_admin", error)
        saved = not error
    context = _member_context(request, member, form=form, saved=saved)
    if request.htmx:
        return render(request, "dashboard/team_user.html#roles-form", context)
    return render(request, "dashboard/team_user.html", context)


def _member_context(
    request: AuthenticatedHttpRequest, member: User, **extra: object
) -> dict[str, object]:
    if "form" not in extra:
        extra["form"] = RolesForm(user=member, actor=request.user, orgs=Organization.objects.all())
    return {
        "member": member,
        "is_me": member.pk == request.user.pk,
        "must_change": accounts.must_change_password(member),
        "link_hours": accounts.link_hours(),
        "nav": "team",
        **extra,
    }


RESET_WAYS = ("one-time", "link")


@never_cache
@require_POST
def team_user_password(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Reset someone's password: a one-time password or a one-time link, shown here once."""
    require_site_admin(request)
    member = get_object_or_404(User, pk=pk)
    how = request.POST.get("how", "")
    name = member.get_username()
    error = ""
    if member.pk == request.user.pk:
        error = "Change your own password on Your account."
    elif how not in RESET_WAYS:
        error = "Choose how to reset the password."
    if error:
        if not request.htmx:
            messages.error(request, error)
            return redirect("team_user", pk=member.pk)
        return render(
            request,
            "dashboard/team_user.html#reset",
            _member_context(request, member, reset_error=error),
        )
    if how == "one-time":
        secret = accounts.give_one_time_password(member)
        detail = f"{name}: one-time password, to be changed at their next sign-in"
    else:
        secret = accounts.give_reset_link(request, member)
        detail = f"{name}: one-time link, valid {accounts.link_hours()} hours"
    # The secret is in this response only: never in the audit trail, a log line or a message.
    audit.record("password_reset", request=request, detail=detail)
    signin.unlock(name, request=request)
    context = _member_context(request, member, secret=secret, reset_how=how)
    template = "dashboard/team_user.html#reset" if request.htmx else "dashboard/team_user.html"
    return render(request, template, context)


def _apply_roles(request: AuthenticatedHttpRequest, member: User, form: RolesForm) -> str:
    """Store the form's changes, with an audit event each; returns an error, or ""."""
    name = member.get_username()
    for org, old, new in form.role_changes():
        if new:
            Membership.objects.update_or_create(user=member, org=org, defaults={"role": new})
        else:
            Membership.objects.filter(user=member, org=org).delete()
        audit.record(
            "membership_changed",
            request=request,
            org=org,
            detail=f"{name}: {old or 'no access'} → {new or 'no access'}",
        )
    make_admin = form.cleaned_data["is_admin"]
    if make_admin != member.is_superuser:
        # Re-checked under a lock: two admins demoting each other at once must not both win.
        User.objects.select_for_update().filter(is_superuser=True, is_active=True).count()
        if not make_admin and is_last_active_admin(member):
            return f"{name} is the last active admin: make someone else an admin first."
        member.is_superuser = member.is_staff = make_admin
        member.save(update_fields=["is_superuser", "is_staff"])
        audit.record(
            "admin_granted" if make_admin else "admin_revoked", request=request, detail=name
        )
    return ""


@require_POST
def team_user_deactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_site_admin(request)
    member = get_object_or_404(User, pk=pk)
    name = member.get_username()
    error = ""
    with transaction.atomic():
        User.objects.select_for_update().filter(is_superuser=True, is_active=True).count()
        if is_last_active_admin(member):
            error = f"{name} is the last active admin and cannot be deactivated."
        elif member.pk == request.user.pk:
            error = "You cannot deactivate yourself. Ask another admin to do it."
        elif member.is_active:
            member.is_active = False
            member.save(update_fields=["is_active"])
            audit.record("user_deactivated", request=request, detail=name)
    if error:
        audit.record(
            "user_deactivated", request=request, outcome=AuditEvent.Outcome.DENIED, detail=error
        )
    if request.htmx:
        return _user_row(request, member.pk, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Deactivated {name}: they can no longer sign in.")
    return redirect("team")


@require_POST
def team_user_reactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_site_admin(request)
    member = get_object_or_404(User, pk=pk)
    if not member.is_active:
        member.is_active = True
        member.save(update_fields=["is_active"])
        audit.record("user_reactivated", request=request, detail=member.get_username())
    if request.htmx:
        return _user_row(request, member.pk)
    messages.success(request, f"Reactivated {member.get_username()}: they can sign in again.")
    return redirect("team")
