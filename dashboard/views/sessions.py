from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from dashboard import actions, audit, bulk, devin, filters, live, sync, vocabulary, wording
from dashboard.access import (
    OPERATOR,
    operator_orgs,
    org_for_user,
    orgs_and_operator_orgs,
    require_operator,
    session_for_user,
    visible_orgs,
)
from dashboard.crypto import CredentialDecryptError
from dashboard.fields import PkListField
from dashboard.forms import CHOOSE_ORG, TrackForm
from dashboard.http import AuthenticatedHttpRequest, back_url
from dashboard.models import Organization, Session, SyncRun
from dashboard.templatetags.dashboard import sync_state
from dashboard.views import session_page


def _attention_count(org_pks: list[int]) -> str:
    return filters.attention_count(Session.objects.filter(org_id__in=org_pks))


def sessions(request: AuthenticatedHttpRequest) -> HttpResponse:
    orgs, actable = orgs_and_operator_orgs(request.user)
    by_pk = {org.pk: org for org in orgs}
    f = filters.SessionFilters(request.GET, org_pks=by_pk)
    chosen = f.cleaned_data

    base = Session.objects.filter(org_id__in=list(by_pk))
    # The views' counts cover the chosen org; the other filters narrow the list, not the tabs.
    scope = base.filter(org_id=chosen["org"]) if chosen["org"] else base
    # A link with filters and no view means every view; a bare visit, the first with rows.
    view = chosen["view"] or ("all" if f.is_filtered else "")
    # A bare visit counts the first view's statuses with the views' counts, in one statement: it
    # is the view shown whenever it has rows (a second statement otherwise, as before).
    guess = view or next(iter(vocabulary.VIEWS))
    in_view = filters.view_sessions(scope, guess, chosen["archived"])
    chips = filters.view_statuses(guess, chosen["status"])
    counts, status_counts = filters.view_counts(scope, in_view, chips) if orgs else ({}, {})
    if not view:
        view = next((v for v in vocabulary.VIEWS if counts.get(v)), "all")
        chosen["view"] = view  # the links and the pushed URL keep it, whatever counts say later
        if view != guess:
            in_view = filters.view_sessions(scope, view)
            chips = filters.view_statuses(view, chosen["status"])
            status_counts = filters.view_counts(None, in_view, chips)[1] if orgs else {}
    matching, total = f.apply_counted(base) if orgs else (base.none(), 0)
    # `raw`, the full JSON and most of a row's bytes, is never shown: it stays in the database.
    page = f.page(matching.defer("raw"), settings.SESSIONS_PER_PAGE) if total else None
    rows = page.rows if page else []
    for row in rows:
        row.org = by_pk[row.org_id]  # no join: the orgs are already loaded

    runs = _latest_runs(orgs)
    org_runs = [(org, run, sync_state(org, run, actable)) for org, run in runs]
    view_only = {o.pk for o in orgs if o.pk in actable and o.can_manage is False}
    cap = filters.VIEW_COUNT_CAP
    context: dict[str, object] = {
        "nav": "sessions",
        "orgs": orgs,
        "operator_orgs": [org for org in orgs if org.pk in actable],
        # Which rows offer actions, by org: the template only reads it.
        "actable_orgs": actable,
        "view_only_orgs": [o for o in orgs if o.pk in view_only],
        "org_runs": org_runs,
        # The sync bar's HTML is cached ({% cached_html %}) under everything it prints.
        "sync_bar_key": repr(
            [
                (org.pk, org.name, org.pk in view_only, cells)
                + ((run.pages, run.seen, run.error, run.skipped_detail) if run else ())
                for org, run, cells in org_runs
            ]
        ),
        "rows": rows,
        "total": total,
        "total_label": filters.count_label(total),
        "count_cap": filters.COUNT_CAP,
        # As the counts print them: "1,000", "10,000".
        "count_cap_label": f"{filters.COUNT_CAP:,}",
        "bulk_cap_label": f"{bulk.MAX_TARGETS:,}",
        "attention_count": filters.count_label(counts.get("attention", 0), cap)
        if not chosen["org"]
        else _attention_count(list(by_pk)),
        "views": [
            {
                "value": v.value,
                "label": v.label,
                "title": v.title,
                "count": filters.count_label(counts.get(v.value, 0), cap),
                "query": f.query(view=v.value, after="", status=""),
                "current": v.value == view,
            }
            for v in vocabulary.VIEWS.values()
        ],
        "f": f,
        # The filters' values, for the template: a Form answers `f.cleaned_data` only after a
        # KeyError (a form's [] is its fields), ~70 of them a page.
        "chosen": chosen,
        "next_query": f.query(after=page.next_cursor) if page and page.next_cursor else "",
        "first_query": f.query() if chosen["after"] else "",
        "clear_query": f.query(**dict.fromkeys(filters.FILTER_KEYS, "")),
        # An empty view under a filter: the same filter in every view that is not archived.
        "all_query": f.query(view="all") if view not in ("all", "archived") and not total else "",
        "any_sessions": total > 0 or (orgs and base.exists()),
        "status_choices": [
            (value, filters.label(value), filters.count_label(status_counts.get(value, 0), cap))
            for value in chips
        ],
        "detail_choices": filters.choices(filters.STATUS_DETAILS, chosen["detail"]),
        "category_choices": filters.choices(filters.CATEGORIES, chosen["category"]),
        "origin_choices": filters.choices(filters.ORIGINS, chosen["origin"]),
        "archived_choices": filters.ARCHIVED.items(),
        "pr_choices": filters.PR_FILTERS.items(),
        "sort_choices": filters.SORT_LABELS.items(),
        "more_filtered": any(
            chosen[k] not in ("", None, "any", "active", "updated")
            for k in ("detail", "category", "archived", "pr", "tag", "origin", "user", "sort")
        ),
        "legend": vocabulary.LEGEND,
        "live_interval": settings.LIVE_REFRESH_SECONDS,
        "live_since": f"{time.time():.6f}",
    }
    # The filter bar's HTML is cached ({% cached_html %}) under what it prints: the filters'
    # values (all but the page's cursor), the status chips with their counts and the orgs. The
    # rest it shows follows from these (the menus' choices) or is fixed.
    context["filter_bar_key"] = repr(
        (
            [(name, value) for name, value in chosen.items() if name != "after"],
            context["status_choices"],
            [(org.pk, org.name) for org in orgs],
        )
    )
    if (
        request.htmx
        and not request.htmx.history_restore_request
        and request.htmx.target == "results"
    ):
        response = render(request, "dashboard/sessions.html#results", context)
        # Push the canonical, shareable URL (the form itself would push every empty field).
        query = f.query(after=request.GET["after"]) if chosen["after"] else f.query()
        response = push_url(response, reverse("sessions") + (f"?{query}" if query else ""))
    else:
        response = render(request, "dashboard/sessions.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _latest_runs(orgs: list[Organization]) -> list[tuple[Organization, SyncRun | None]]:
    """Each org with its newest sync run (None if it never synced), in two small queries."""
    if not orgs:
        return []
    # Which run is each org's newest, from (org, pk) pairs; then those runs alone as models.
    # Building every run kept (syncruns.KEEP_RUNS, 20 an org) as a model cost ~5 ms of CPU a
    # page with 10 orgs; a correlated subquery or a window cost more than this at 1-2 runs.
    pairs = (
        SyncRun.objects.filter(org_id__in=[o.pk for o in orgs])
        .order_by("org_id", "-started_at", "-pk")
        .values_list("org_id", "pk")
    )
    newest: dict[int, int] = {}
    for org_pk, pk in pairs:
        newest.setdefault(org_pk, pk)
    shown = (
        "org_id",
        "state",
        "started_at",
        "finished_at",
        "error",
        "pages",
        "seen",
        "lease_until",
        "skipped",
        "skipped_detail",
    )
    runs = SyncRun.objects.filter(pk__in=list(newest.values())).only(*shown) if newest else []
    latest = {run.org_id: run for run in runs}
    return [(org, latest.get(org.pk)) for org in orgs]


def _render_row(
    request: AuthenticatedHttpRequest,
    session: Session,
    *,
    problem: wording.ActionProblem | None = None,
    note: str = "",
    flash: bool = False,
    counter: bool = False,
) -> HttpResponse:
    context = {
        "row": session,
        "actable_orgs": frozenset({session.org_id}),  # only its operators reach the actions
        "problem": problem,
        "note": note,
        "flash": flash,
        "attention_count": filters.attention_count_of(request.user) if counter else None,
    }
    return render(request, "dashboard/sessions.html#session-row-swap", context)


def _act(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    session = session_for_user(request, pk, OPERATOR)
    # Within ACTION_DEADLINE_SECONDS, re-read included: well inside a proxy's timeout.
    result = actions.perform(session, action, actor=request.user, ip=audit.client_ip(request))
    problem = None
    if result.error is not None and request.htmx:
        # The row as stored; a rate limit's words already say when to try again.
        problem = wording.action_problem(action, result.error)
        if result.outcome is actions.Outcome.UNKNOWN and settings.LIVE_REFRESH_SECONDS:
            # A worker re-reads the org (never this request): the live poll brings the row.
            live.request_refresh(session.org)
            problem = dataclasses.replace(problem, note=wording.REREADING)
    if request.htmx and request.POST.get("panel") == "1":
        # From the side panel: its header and the list row behind it, the list kept.
        return session_page.after_action(request, result, action, problem)
    if result.error is not None:
        if not request.htmx:
            messages.error(request, wording.action_flash(action, str(session), result.error))
            return redirect(back_url(request))
        return _render_row(request, result.session, problem=problem)
    if not request.htmx:
        done = f"{action.capitalize()}d “{result.session}”."
        messages.success(request, f"{done} {result.note}" if result.note else done)
        return redirect(back_url(request))
    return _render_row(request, result.session, note=result.note, flash=True, counter=True)


@require_POST
def session_archive(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "archive")


@require_POST
def session_unarchive(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "unarchive")


@require_POST
def session_terminate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "terminate")


@require_GET
def session_row(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = session_for_user(request, pk)
    context = {"row": session, "actable_orgs": operator_orgs(request.user)}
    return render(request, "dashboard/sessions.html#session-row", context)


@require_GET
def sessions_live(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The rows among `ids` that changed since `since`, as out-of-band swaps (the live view)."""
    if not settings.LIVE_REFRESH_SECONDS:
        return HttpResponse(status=204)
    ids = PkListField(most=200).clean(request.GET.getlist("ids"))
    try:
        since = datetime.fromtimestamp(float(request.GET.get("since", "")), UTC)
    except (ValueError, OverflowError, OSError):
        since = datetime.now(UTC)
    orgs = {org.pk: org for org in visible_orgs(request.user)}
    watched = Session.objects.filter(pk__in=ids, org_id__in=list(orgs))
    live_orgs = (
        watched.filter(is_archived=False, status__in=Session.LIVE_STATUSES)
        .values_list("org_id", flat=True)
        .distinct()
    )
    problems = []
    for org_pk in live_orgs:
        # Never a call to Devin here: a worker re-reads the org, and its rows come next poll.
        live.request_refresh(orgs[org_pk])
        if orgs[org_pk].live_problem:
            problems.append(orgs[org_pk].live_problem)
    # Rows written after this instant are sent next time (at worst twice, never missed).
    checked = time.time()
    rows = list(watched.filter(synced_at__gt=since).defer("raw"))
    for row in rows:
        row.org = orgs[row.org_id]
    context = {
        "rows": rows,
        "oob": True,
        "flash": True,
        "actable_orgs": operator_orgs(request.user) if rows else frozenset(),
        "attention_count": _attention_count(list(orgs)) if rows else None,
    }
    response = render(request, "dashboard/sessions.html#live-rows", context)
    response["X-Live-Since"] = f"{checked:.6f}"
    if problems:
        # Shown beside the table by app.js; the rows keep what the dashboard knows.
        response["X-Live-Problem"] = " ".join(problems)[:300].encode("ascii", "replace").decode()
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def session_track(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Start tracking a session by id or URL: GET it from Devin and store it."""
    form = TrackForm(request.POST, org_pks=require_operator(request))
    if not form.is_valid():
        messages.error(request, CHOOSE_ORG)  # the one thing it checks
        return redirect(back_url(request))
    org = org_for_user(request, form.cleaned_data["org"], OPERATOR)
    try:
        session_id = devin.normalize_session_id(request.POST.get("ref", ""))
    except ValueError:
        messages.error(request, wording.not_a_session_ref(request.POST.get("ref", "")))
        return redirect(back_url(request))
    try:
        found = org.client().get_session(session_id, deadline=actions.deadline_in())
    except devin.NotFound:
        messages.error(request, f"{org} has no session {session_id}. Check the id and the org.")
        return redirect(back_url(request))
    except (devin.DevinError, CredentialDecryptError) as exc:
        messages.error(request, f"Could not fetch {session_id}: {wording.describe(exc)}")
        return redirect(back_url(request))
    sync.store_sessions(org, [found])
    audit.record("track", request=request, org=org, session_id=session_id)
    messages.success(request, f"Now tracking {session_id} in {org.name}.")
    query = urlencode({"archived": "all", "q": session_id})
    return HttpResponseRedirect(f"{reverse('sessions')}?{query}")
