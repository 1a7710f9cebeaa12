"""Retention rules: the Rules page of an org, a rule's page (preview, runs), add, edit, pause,
delete, and the site admin's pause of every rule. Each run's outcome page is its bulk run's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard import audit, rules
from dashboard.access import (
    OPERATOR,
    is_site_admin,
    org_for_user,
    require_site_admin,
    role_in,
    visible_orgs,
)
from dashboard.http import AuthenticatedHttpRequest, back_url
from dashboard.models import Organization, Rule, RulesSwitch
from dashboard.ruleforms import RuleForm, conditions

RUNS_SHOWN = 20


def _rule_for_user(request: AuthenticatedHttpRequest, pk: int, role: str) -> Rule:
    rule = get_object_or_404(Rule.objects.select_related("org"), pk=pk)
    org_for_user(request, rule.org_id, role)
    return rule


def _can_edit(user: User, org: Organization) -> bool:
    return role_in(user, org) == OPERATOR


def _audit(request: AuthenticatedHttpRequest, action: str, rule: Rule) -> None:
    audit.record(action, request=request, org=rule.org, detail=f"{rule.name}: {conditions(rule)}")


@require_GET
def rules_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Rules menu: straight to the org's rules when the user sees one org."""
    orgs = list(visible_orgs(request.user).order_by("name", "pk"))
    if len(orgs) == 1:
        return redirect("rules", pk=orgs[0].pk)
    return render(request, "dashboard/rules_index.html", {"orgs": orgs, "nav": "rules"})


@require_GET
def rules_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk)
    org_rules = list(org.rules.order_by("name", "pk"))
    return render(
        request,
        "dashboard/rules.html",
        {
            "org": org,
            "rules": [(rule, conditions(rule)) for rule in org_rules],
            "can_edit": _can_edit(request.user, org),
            "all_paused": RulesSwitch.all_paused(),
            "is_admin": is_site_admin(request.user),
            "nav": "rules",
        },
    )


@require_GET
def rule_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    rule = _rule_for_user(request, pk, "viewer")
    count, first = rules.preview(rule)
    return render(
        request,
        "dashboard/rule.html",
        {
            "rule": rule,
            "org": rule.org,
            "conditions": conditions(rule),
            "count": count,
            "first": first,
            "link": rules.sessions_link(rule),
            "runs": rule.runs.order_by("-pk")[:RUNS_SHOWN],
            "can_edit": _can_edit(request.user, rule.org),
            "all_paused": RulesSwitch.all_paused(),
            "nav": "rules",
        },
    )


@require_http_methods(["GET", "POST"])
def rule_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    org = org_for_user(request, pk, OPERATOR)
    return _form(request, org, Rule(org=org, created_by=request.user))


@require_http_methods(["GET", "POST"])
def rule_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    rule = _rule_for_user(request, pk, OPERATOR)
    return _form(request, rule.org, rule)


def _form(request: AuthenticatedHttpRequest, org: Organization, rule: Rule) -> HttpResponse:
    """The rule's form; "Preview" shows what it would archive now without saving anything."""
    adding = rule.pk is None
    form = RuleForm(request.POST) if request.method == "POST" else None
    context: dict[str, object] = {"org": org, "rule": rule, "adding": adding, "nav": "rules"}
    if form is not None and form.is_valid():
        form.apply(rule)
        if "preview" not in request.POST:
            with transaction.atomic():
                rule.save()
                _audit(request, "rule_created" if adding else "rule_edited", rule)
            messages.success(request, f"Rule “{rule.name}” saved.")
            return redirect("rule", pk=rule.pk)
        count, first = rules.preview(rule)
        context.update(previewed=True, count=count, first=first, link=rules.sessions_link(rule))
    elif form is None:
        form = RuleForm.for_rule(rule) if not adding else RuleForm()
    context["form"] = form
    return render(request, "dashboard/rule_form.html", context)


@require_POST
def rule_switch(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Enable (resume) or pause a rule. Enabling clears a pause after failing runs."""
    rule = _rule_for_user(request, pk, OPERATOR)
    enable = request.POST.get("enable") == "1"
    with transaction.atomic():
        Rule.objects.filter(pk=rule.pk).update(
            enabled=enable,
            paused_reason="",
            failures=0 if enable else rule.failures,
            next_run_at=timezone.now() if enable else rule.next_run_at,
        )
        rule.refresh_from_db()
        _audit(request, "rule_enabled" if enable else "rule_paused", rule)
    messages.success(request, f"Rule “{rule.name}” {'enabled' if enable else 'paused'}.")
    return redirect("rule", pk=rule.pk)


@require_POST
def rule_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    rule = _rule_for_user(request, pk, OPERATOR)
    with transaction.atomic():
        _audit(request, "rule_deleted", rule)
        rule.delete()
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("rules", pk=rule.org_id)


@require_POST
def rules_pause_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    paused = request.POST.get("paused") == "1"
    with transaction.atomic():
        RulesSwitch.objects.update_or_create(
            pk=1, defaults={"paused": paused, "changed_at": timezone.now()}
        )
        audit.record(
            "rules_paused_all" if paused else "rules_resumed_all",
            request=request,
            detail="every retention rule " + ("paused" if paused else "resumed"),
        )
    messages.success(request, "Every rule is paused." if paused else "Rules run again.")
    return redirect(back_url(request))
