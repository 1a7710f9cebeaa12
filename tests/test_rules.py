"""Retention rules' pages and scheduling: making a rule with its preview, who may change it,
the audit of each change, the pauses, and the matches (evaluated with the sessions page's
filters). What runs archive, with a real worker, is tests/test_rules_workers.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from dashboard import rules
from dashboard.management.commands.sync_sessions import scheduler_pass
from dashboard.models import AuditEvent, BulkRun, Organization, Rule, RulesSwitch, Session

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def add(org: Organization, n: int, *, days: float = 3, **fields: Any) -> list[Session]:
    at = timezone.now() - timedelta(days=days)
    made: list[Session] = []
    for i in range(n):
        defaults: dict[str, Any] = {"title": f"s{i}", "status": "exit", "tags_text": "|old|"}
        made.append(
            Session.objects.create(
                org=org,
                session_id=f"devin-{org.pk}-{len(made)}-{Session.objects.count()}",
                created_at=at,
                updated_at=at,
                **{**defaults, **fields},
            )
        )
    return made


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


FORM = {"name": "old", "tag": "old", "min_age_days": "1", "pr": "any", "cap": "500"}
FORM["every_minutes"] = "60"


def test_an_operator_previews_then_saves_a_rule_that_starts_paused(
    acme: Organization, operator: Any
) -> None:
    add(acme, 25)
    add(acme, 2, status="running", status_detail="working")  # live: never
    add(acme, 1, days=0.01)  # updated in the last hour: never
    add(acme, 1, tags_text="|old|keep|")
    client = signed_in(operator)
    page = client.post(
        f"/orgs/{acme.pk}/rules/add/", {**FORM, "exclude_tags": "keep", "preview": "1"}
    )
    assert page.status_code == 200
    shown = text(page.content.decode())
    assert "This rule would archive 25 sessions now." in shown
    assert "The first 20 shown." in shown
    assert f'href="/?org={acme.pk}&amp;tag=old"' in page.content.decode()
    assert not Rule.objects.exists()  # a preview saves nothing

    response = client.post(f"/orgs/{acme.pk}/rules/add/", {**FORM, "exclude_tags": "keep"})
    rule = Rule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/rules/{rule.pk}/"
    assert (rule.query, rule.exclude_tags, rule.enabled) == ("tag=old", "|keep|", False)
    event = AuditEvent.objects.get(action="rule_created")
    assert event.actor_name == "operator"
    assert event.detail == (
        "old: tag=old; not updated for 1 days; not tagged keep; at most 500 per run, every 60 min"
    )
    assert "This rule would archive 25 sessions now." in text(
        client.get(f"/rules/{rule.pk}/").content.decode()
    )
    assert rules.preview(rule)[0] == rules.matches(rule).count() == 25


def test_bad_input_is_a_form_error_not_a_500(acme: Organization, operator: Any) -> None:
    client = signed_in(operator)
    bad = {**FORM, "cap": "0", "status": "bogus", "detail": "z" * 70}
    page = client.post(f"/orgs/{acme.pk}/rules/add/", bad)
    assert page.status_code == 200
    # A NUL byte is refused before any view, as everywhere in the dashboard.
    assert client.post(f"/orgs/{acme.pk}/rules/add/", {**FORM, "name": "x\x00y"}).status_code == 400
    assert not Rule.objects.exists()
    assert "Ensure this value is greater than or equal to 1." in page.content.decode()


def test_viewers_see_rules_but_cannot_change_them(
    acme: Organization, viewer: Any, operator: Any, outsider: Any
) -> None:
    rule = Rule.objects.create(org=acme, name="old", query="status=exit")
    page = signed_in(viewer).get(f"/orgs/{acme.pk}/rules/").content.decode()
    assert "old" in page and "Add rule" not in page
    page = signed_in(viewer).get(f"/rules/{rule.pk}/").content.decode()
    assert "Enable rule" not in page and "Delete rule" not in page
    assert signed_in(viewer).post(f"/rules/{rule.pk}/switch/", {"enable": "1"}).status_code == 403
    assert signed_in(outsider).get(f"/rules/{rule.pk}/").status_code == 404
    assert "Enable rule" in signed_in(operator).get(f"/rules/{rule.pk}/").content.decode()
    assert not Rule.objects.get().enabled


def test_enable_pause_edit_and_delete_are_audited_with_the_conditions(
    acme: Organization, operator: Any
) -> None:
    rule = Rule.objects.create(org=acme, name="old", query="status=exit", failures=3)
    Rule.objects.filter(pk=rule.pk).update(paused_reason="Paused after 3 failing runs in a row")
    client = signed_in(operator)
    client.post(f"/rules/{rule.pk}/switch/", {"enable": "1"})
    rule.refresh_from_db()
    assert rule.enabled and not rule.paused_reason and rule.failures == 0
    client.post(f"/rules/{rule.pk}/edit/", {**FORM, "name": "older", "status": ["exit", "error"]})
    rule.refresh_from_db()
    assert rule.query == "status=exit&status=error&tag=old"
    client.post(f"/rules/{rule.pk}/switch/", {"enable": "0"})
    client.post(f"/rules/{rule.pk}/delete/")
    assert not Rule.objects.exists()
    events = list(
        AuditEvent.objects.filter(action__startswith="rule")
        .order_by("pk")
        .values_list("action", "detail")
    )
    assert [a for a, _ in events] == ["rule_enabled", "rule_edited", "rule_paused", "rule_deleted"]
    assert events[1][1].startswith("older: status=exit&status=error&tag=old; not updated for 1")


def test_the_scheduler_pass_queues_each_due_rule_once(acme: Organization) -> None:
    due = Rule.objects.create(org=acme, name="due", enabled=True)
    Rule.objects.create(org=acme, name="off")
    Rule.objects.create(org=acme, name="broken", enabled=True, paused_reason="Paused after 3")
    later = Rule.objects.create(
        org=acme, name="later", enabled=True, next_run_at=timezone.now() + timedelta(minutes=5)
    )
    scheduler_pass(Organization.objects.none(), 3600)
    queued = DBTaskResult.objects.filter(task_path="dashboard.rules.rule_task")
    assert [r.args_kwargs["args"] for r in queued] == [[due.pk]]
    due.refresh_from_db()
    assert due.next_run_at is not None and due.next_run_at > timezone.now() + timedelta(minutes=59)
    assert rules.enqueue_due() == 0
    assert rules.enqueue_due(now=timezone.now() + timedelta(minutes=61)) == 2
    assert later.pk in {r.args_kwargs["args"][0] for r in queued.all()}


def test_the_site_admins_pause_stops_every_rule(
    acme: Organization, admin: Any, operator: Any
) -> None:
    rule = Rule.objects.create(org=acme, name="old", enabled=True)
    assert signed_in(operator).post("/rules/pause-all/", {"paused": "1"}).status_code == 403
    signed_in(admin).post("/rules/pause-all/", {"paused": "1"})
    assert RulesSwitch.all_paused()
    assert rules.enqueue_due() == 0
    add(acme, 3)
    rules.rule_task.call(rule.pk)  # a run queued before the pause does nothing either
    assert not BulkRun.objects.exists()
    page = signed_in(operator).get(f"/orgs/{acme.pk}/rules/").content.decode()
    assert "Every rule is paused" in text(page)
    signed_in(admin).post("/rules/pause-all/", {"paused": "0"})
    assert rules.enqueue_due() == 1
    assert AuditEvent.objects.filter(action="rules_paused_all").count() == 1


def test_a_rules_run_page_is_open_to_the_orgs_members_only(
    acme: Organization, viewer: Any, outsider: Any
) -> None:
    rule = Rule.objects.create(org=acme, name="old", enabled=True, cap=2)
    add(acme, 3)
    run = rules.start_run(rule)
    assert run is not None and run.items.count() == 2
    page = signed_in(viewer).get(f"/bulk/{run.pk}/")
    assert page.status_code == 200 and "Rule “old”" in page.content.decode()
    assert signed_in(outsider).get(f"/bulk/{run.pk}/").status_code == 404


def test_pr_conditions_no_open_pr_and_all_merged_or_closed(acme: Organization) -> None:
    add(acme, 1, title="none", pr_states="")
    add(acme, 1, title="open", pr_states="|merged|open|")
    add(acme, 1, title="draft", pr_states="|draft|")
    add(acme, 1, title="done", pr_states="|merged|closed|")
    titles = {
        pr: set(rules.matches(Rule(org=acme, query=f"pr={pr}")).values_list("title", flat=True))
        for pr in ("no_open", "settled", "none")
    }
    assert titles == {"no_open": {"none", "done"}, "settled": {"done"}, "none": {"none"}}
