"""Bulk archive and terminate (sessions/bulk-archive/, sessions/bulk-terminate/) and the progress
page of a run (bulk/<pk>/)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Case, Count, Q, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard import answers, filters
from dashboard.access import require_operator, visible_orgs
from dashboard.bulk import start_bulk
from dashboard.fields import PkListField
from dashboard.http import AuthenticatedHttpRequest, back_url
from dashboard.models import BulkItem, BulkRun, Session

# Items listed on a run's page (all of them up to this): the page is polled while the run works.
SHOWN = 500


@require_POST
def bulk_archive(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _bulk(request, "archive")


@require_POST
def bulk_terminate(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _bulk(request, "terminate")


def _bulk(request: AuthenticatedHttpRequest, action: str) -> HttpResponse:
    targets = Session.objects.filter(org_id__in=require_operator(request), is_archived=False)
    if action == "terminate":
        # A session that has ended already has nothing to stop.
        targets = targets.exclude(status=answers.TERMINATED_STATUS)
    if request.POST.get("scope") == "filter":
        # The filter travels in the form. Rows outside the user's operator orgs are already
        # left out, so any org may be named; a value that does not read stops the archive
        # rather than widen it.
        f = filters.SessionFilters(request.POST, org_pks=None)
        if f.notes:
            messages.error(request, f"That filter could not be read, so nothing was {action}d.")
            return redirect(back_url(request))
        if f.cleaned_data["archived"] == "archived":
            messages.info(request, "Those sessions are already archived.")
            return redirect(back_url(request))
        targets = f.apply(targets)
        description = f"all active sessions matching {f.query() or 'no filter'}"
    else:
        ids = PkListField().clean(request.POST.getlist("ids"))
        targets = targets.filter(pk__in=ids)
        description = f"{len(ids)} selected sessions"
    run = start_bulk(request, targets, description, action)
    if run is None:
        messages.info(request, f"No active sessions that you can {action} were selected.")
        return redirect(back_url(request))
    return redirect("bulk_run", pk=run.pk)


@require_GET
def bulk_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    # A person's run is theirs; a rule's run is for everyone who sees the rule's org.
    mine = Q(actor=request.user) | Q(rule__org__in=visible_orgs(request.user))
    run = get_object_or_404(BulkRun.objects.filter(mine).select_related("rule"), pk=pk)
    counts = dict.fromkeys(BulkItem.Outcome.values, 0)
    counts.update(
        run.items.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")
    )
    total = sum(counts.values())
    # Failures first (they need reading), then in order; a long run lists the first SHOWN only.
    first_failures = Case(
        When(outcome__in=[BulkItem.Outcome.FAILED, BulkItem.Outcome.SKIPPED], then=0), default=1
    )
    items = run.items.select_related("session", "session__org").order_by(first_failures, "pk")
    context = {
        "run": run,
        "state": _state(run),
        "items": items[:SHOWN],
        "counts": counts,
        "total": total,
        "hidden": max(0, total - SHOWN),
        "done": total - counts["pending"] - counts["working"],
    }
    template = "dashboard/bulk.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


def _state(run: BulkRun) -> str:
    """What the run is doing, as the page says it: never "running" when no worker holds it."""
    if run.state == BulkRun.State.DONE:
        return "done"
    if not run.worker:
        return "queued"
    if run.lease_until is None or run.lease_until <= timezone.now():
        return "stopped"
    return "running"
