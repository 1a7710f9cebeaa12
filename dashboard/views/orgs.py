"""Everything under orgs/: organizations and their credentials (site admins), and Sync now
(operators of the org).
"""

from __future__ import annotations

import copy

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Now
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from dashboard import actions, audit, sync
from dashboard.access import OPERATOR, operator_orgs, org_for_user, require_site_admin
from dashboard.crypto import CredentialDecryptError
from dashboard.devin import DevinError, Identity, SessionQuery
from dashboard.http import AuthenticatedHttpRequest, back_url
from dashboard.models import AuditEvent, Organization, Session, SyncRun
from dashboard.orgforms import OrgForm, TokenCheck, check_token, describe_failure

Health = Organization.Health


def _org_for_admin(request: AuthenticatedHttpRequest, pk: int) -> Organization:
    """Another org is a 404 as everywhere; a member who is not a site admin gets a 403."""
    org = org_for_user(request, pk)
    require_site_admin(request)
    return org


def _orgs_with_stats() -> QuerySet[Organization]:
    # Subqueries rather than joins: a join over sessions and sync runs multiplies the rows.
    sessions = (
        Session.objects.filter(org=OuterRef("pk"))
        .order_by()
        .values("org")
        .annotate(n=Count("pk"))
        .values("n")
    )
    latest_sync = SyncRun.objects.filter(org=OuterRef("pk")).order_by("-started_at")
    # Marked running, but no worker holds it (its lease ran out): never shown as running.
    stalled = Q(last_sync_state=SyncRun.State.RUNNING, last_sync_lease__lt=Now())
    return (
        Organization.objects.select_related("token_set_by")
        .annotate(
            session_count=Coalesce(Subquery(sessions), Value(0), output_field=IntegerField()),
            last_sync_at=Subquery(latest_sync.values("started_at")[:1]),
            last_sync_state=Subquery(latest_sync.values("state")[:1]),
            last_sync_lease=Subquery(latest_sync.values("lease_until")[:1]),
            last_sync_skipped=Subquery(latest_sync.values("skipped")[:1]),
            last_sync_skipped_detail=Subquery(latest_sync.values("skipped_detail")[:1]),
        )
        .annotate(last_sync_stalled=ExpressionWrapper(stalled, output_field=BooleanField()))
    )


def _done(request: AuthenticatedHttpRequest, url: str) -> HttpResponse:
    """After a successful POST: a redirect, or for htmx a client-side one (same flash)."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def check_connection(org: Organization) -> tuple[str, str]:
    """What the org's token can do, as (health, words). Raises CredentialDecryptError.

    whoami() checks the token alone; list_page(first=1) checks ViewOrgSessions. Whether it may
    archive (ManageOrgSessions) has no safe probe: archive attempts record that in can_manage.
    """
    if not org.has_token:
        return Health.ERROR, "no token: add one on the edit page."
    identity: Identity | None = None
    # A person is waiting: both calls share one deadline, well inside a proxy's timeout.
    deadline = actions.deadline_in()
    try:
        client = org.client()
        identity = client.whoami(deadline=deadline)
        client.list_page(SessionQuery(first=1), deadline=deadline)
    except DevinError as exc:
        return describe_failure(exc, identity)
    words = f"can view sessions (as {identity.name})"
    if org.can_manage is False:
        return Health.VIEW_ONLY, words + "; cannot archive (lacks ManageOrgSessions)"
    return Health.OK, words


def _test(request: AuthenticatedHttpRequest, org: Organization) -> bool:
    """Run the check, store and audit the result; True if the token can view sessions."""
    try:
        org.health, org.health_detail = check_connection(org)
    except CredentialDecryptError as exc:
        org.health, org.health_detail = Health.ERROR, str(exc)
        action, detail = "credential_decrypt_failed", "test connection"
    else:
        action, detail = "credential_tested", org.health_detail
    ok = org.health in (Health.OK, Health.VIEW_ONLY)
    outcome = AuditEvent.Outcome.OK if ok else AuditEvent.Outcome.FAILED
    audit.record(action, request=request, org=org, outcome=outcome, detail=detail)
    org.health_checked_at = timezone.now()
    # Only these fields: an archive running meanwhile may be recording can_manage.
    org.save(update_fields=["health", "health_detail", "health_checked_at"])
    return ok


def _save(
    request: AuthenticatedHttpRequest, form: OrgForm, checked: TokenCheck | None = None
) -> Organization | None:
    try:
        with transaction.atomic():
            org, action = form.save_org(by=request.user, checked=checked)
    except IntegrityError:
        # Two admins adding the same org at once: the constraint caught what clean() could not.
        form.add_error("org_id", "Another organization already uses this org id with this API.")
        return None
    if action:
        audit.record(action, request=request, org=org, detail=f"token ending …{org.token_last4}")
    if checked is not None:
        audit.record("credential_tested", request=request, org=org, detail=checked.words)
    return org


def _check_new_token(form: OrgForm) -> TokenCheck | None:
    """Ask Devin about the new org's token (unless the admin chose not to); a refusal becomes a
    form error and None is returned with the form invalid."""
    data = form.cleaned_data
    if data.get("skip_check"):
        return None
    checked = check_token(data["base_url"], data["org_id"], data["token"])
    if checked.unreachable:
        form.offer_skip = True
        form.add_error(
            None,
            f"Devin could not be reached to check the token ({checked.words}). Nothing was "
            "saved: check the API base URL, or tick “Save without checking” to add it anyway.",
        )
    elif checked.refused:
        form.add_error("token", f"Checked with Devin: {checked.words} Nothing was saved.")
    return checked


def _added(
    request: AuthenticatedHttpRequest, org: Organization, checked: TokenCheck | None
) -> None:
    queued = "its first sync is queued and its sessions appear as the worker reads them"
    if checked is None:
        messages.warning(
            request,
            f"Added {org.name} without checking its token; {queued}. "
            "Test its connection once Devin answers.",
        )
    elif checked.can_manage is False:
        messages.warning(
            request,
            f"Added {org.name}; {queued}. Its token may only view sessions: archive, unarchive "
            "and terminate will be refused until it has ManageOrgSessions.",
        )
    else:
        messages.success(request, f"Added {org.name}; {queued}. The token {checked.words}.")


@require_GET
def orgs(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    return render(request, "dashboard/orgs.html", {"orgs": _orgs_with_stats(), "nav": "orgs"})


@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def org_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    form = OrgForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        checked = _check_new_token(form)
        org = _save(request, form, checked) if form.is_valid() else None
        if org is not None:
            sync.request_sync(org, user=request.user)  # its first sync, on a worker
            _added(request, org, checked)
            return _done(request, reverse("orgs"))
    context = {
        "form": form,
        "nav": "orgs",
        "title": "Add an organization",
        "submit": "Add organization",
    }
    if request.htmx:
        return render(request, "dashboard/org_form.html#org-form", context)
    return render(request, "dashboard/org_form.html", context)


@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def org_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = _org_for_admin(request, pk)
    # The form edits a copy: the page keeps showing the saved values beside its errors.
    form = OrgForm(request.POST if request.method == "POST" else None, instance=copy.copy(org))
    if form.is_valid():
        saved = _save(request, form)
        if saved is not None:
            new_token = " The new token is stored." if form.cleaned_data.get("token") else ""
            messages.success(request, f"Saved {saved.name}.{new_token}")
            return _done(request, reverse("orgs"))
    context = {
        "form": form,
        "org": org,
        "nav": "orgs",
        "title": f"Edit {org.name}",
        "submit": "Save",
    }
    if request.htmx:
        return render(request, "dashboard/org_form.html#org-form", context)
    return render(request, "dashboard/org_form.html", context)


@require_http_methods(["GET", "POST"])
def org_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = _org_for_admin(request, pk)
    session_count = org.sessions.count()
    member_count = org.memberships.count()
    if request.method == "POST":
        with transaction.atomic():
            org.delete()
            audit.record(
                "org_deleted",
                request=request,
                org=org,
                detail=(
                    f"{session_count} synced sessions and {member_count} memberships removed "
                    "from the dashboard (not from Devin)"
                ),
            )
        messages.success(
            request,
            f"Removed {org.name} and its {session_count} synced "
            f"session{'' if session_count == 1 else 's'} from the dashboard. "
            "Nothing changed in Devin.",
        )
        return _done(request, reverse("orgs"))
    return render(
        request,
        "dashboard/org_delete.html",
        {"org": org, "session_count": session_count, "member_count": member_count, "nav": "orgs"},
    )


@require_POST
def org_test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = _org_for_admin(request, pk)
    ok = _test(request, org)
    if request.htmx:
        return render(
            request, "dashboard/orgs.html#org-row", {"org": _orgs_with_stats().get(pk=org.pk)}
        )
    if ok:
        messages.success(request, f"{org.name}: {org.health_detail}.")
    else:
        messages.error(request, f"{org.name}: {org.health_detail}")
    return redirect("orgs")


@require_POST
def org_sync(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk, OPERATOR)
    # Queued for a worker; a second press (or the scheduler's turn) gets the same run.
    run, queued = sync.request_sync(org, user=request.user)
    if not request.htmx:
        if queued:
            messages.info(request, f"Sync of {org.name} queued. Reload to see what it finds.")
        else:
            messages.info(request, f"A sync of {org.name} is already {run.state}.")
        return redirect(back_url(request))
    context = {"org": org, "run": run, "actable_orgs": frozenset({org.pk})}
    return render(request, "dashboard/sessions.html#sync-status", context)


@require_GET
def org_sync_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk)
    run = org.sync_runs.order_by("-started_at").first()
    context = {
        "org": org,
        "run": run,
        "actable_orgs": operator_orgs(request.user),
    }
    response = render(request, "dashboard/sessions.html#sync-status", context)
    if run is not None and not run.is_active:
        # Only active syncs are polled, so this answer is the one that saw it end: let the
        # table show what it found.
        trigger_client_event(response, "sessions-synced")
    return response
