"""Bulk archive (sessions/bulk-archive/) and the progress page of a run (bulk/<pk>/)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from dashboard import filters
from dashboard.access import require_operator
from dashboard.bulk import start_bulk_archive
from dashboard.http import AuthenticatedHttpRequest, back_url
from dashboard.models import BulkRun, Session


@require_POST
def bulk_archive(request: AuthenticatedHttpRequest) -> HttpResponse:
    operator_orgs = require_operator(request)
    targets = Session.objects.filter(org_id__in=operator_orgs, is_archived=False)
    if request.POST.get("scope") == "filter":
        f = filters.SessionFilters.from_query(request.POST)  # the filter travels in the form
        if f.archived == "archived":
            messages.info(request, "Those sessions are already archived.")
            return redirect(back_url(request))
        targets = f.apply(targets)
        description = f"all active sessions matching {f.query() or 'no filter'}"
    else:
        ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
        targets = targets.filter(pk__in=ids)
        description = f"{len(ids)} selected sessions"
    run = start_bulk_archive(request, targets, description)
    if run is None:
        messages.info(request, "No active sessions that you can archive were selected.")
        return redirect(back_url(request))
    return redirect("bulk_run", pk=run.pk)


@require_GET
def bulk_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BulkRun, pk=pk, actor=request.user)
    items = list(run.items.select_related("session", "session__org").order_by("pk"))
    counts = dict.fromkeys(("pending", "ok", "failed", "skipped"), 0)
    for item in items:
        counts[item.outcome] += 1
    context = {
        "run": run,
        "items": items,
        "counts": counts,
        "total": len(items),
        "done": len(items) - counts["pending"],
    }
    template = "dashboard/bulk.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)
