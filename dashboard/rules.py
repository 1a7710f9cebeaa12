"""Retention rules: an org's sessions that match a rule are archived by themselves, safely.

A rule's conditions are the sessions page's filter (`dashboard.filters.SessionFilters`, stored as
its query string) plus an age and tags to leave alone, evaluated in the database by the same
code (`matches`). The scheduler's pass queues `rule_task` for each due rule; the task fixes at
most `cap` targets as a bulk run tagged with the rule, and the bulk machinery archives them on
the workers through the one door (`dashboard.actions`), audited as done by "rule <name>".

Safety, whatever the conditions say: a session running with a live detail, or updated in the
last hour, is never a target (`matches`), and is re-checked just before its archive (`recheck`),
since a sync may have changed it since the run started. A session the rule archived once is never
its target again: if it is active now, a person unarchived it. A site admin can pause every rule
(`RulesSwitch`), anyone who may edit a rule can pause it, and three failing runs in a row pause it
with the reason shown on the Rules page.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.tasks import task
from django.utils import timezone

from dashboard import audit, bulk, wording
from dashboard.filters import SessionFilters
from dashboard.models import AuditEvent, BulkItem, BulkRun, Rule, RulesSwitch, Session

log = logging.getLogger(__name__)

# A running session with one of these details is at work or waiting for a person: never archived.
LIVE_DETAILS: Final = ("working", "waiting_for_user", "waiting_for_approval")
# Nor is a session that changed this recently.
QUIET: Final = timedelta(hours=1)
PREVIEW_ROWS: Final = 20
PAUSED: Final = "Skipped: the rule was paused (or deleted) during its run."
FAILURES_TO_PAUSE: Final = 3
# Filter parameters a rule does not take: it is always about its own org's active sessions.
NOT_RULE_KEYS: Final = ("org", "archived", "sort", "after")


def filters_of(query: str) -> SessionFilters:
    data = QueryDict(query, mutable=True)
    for key in NOT_RULE_KEYS:
        data.pop(key, None)
    return SessionFilters(data, org_pks=None)


def matches(rule: Rule, now: datetime | None = None) -> QuerySet[Session]:
    """The sessions a run of `rule` would archive now, oldest change first (before the cap)."""
    now = now or timezone.now()
    qs = filters_of(rule.query).apply(Session.objects.filter(org_id=rule.org_id))
    qs = qs.filter(is_archived=False, updated_at__lte=now - QUIET)
    qs = qs.exclude(status="running", status_detail__in=LIVE_DETAILS)
    if rule.min_age_days:
        qs = qs.filter(updated_at__lte=now - timedelta(days=rule.min_age_days))
    for tag in rule.excluded_tags:
        qs = qs.exclude(tags_text__contains=f"|{tag}|")
    if rule.pk:
        archived_once = BulkItem.objects.filter(
            run__rule=rule, session=OuterRef("pk"), outcome=BulkItem.Outcome.OK
        )
        qs = qs.exclude(Exists(archived_once))
    return qs.order_by("updated_at", "pk")


def preview(rule: Rule) -> tuple[int, list[Session]]:
    """How many sessions a run would archive now (before the cap), and the first of them."""
    qs = matches(rule)
    return qs.count(), list(qs.select_related("org")[:PREVIEW_ROWS])


def sessions_link(rule: Rule) -> str:
    """The rule's filter on the sessions page (age and excluded tags are not page filters)."""
    f = filters_of(rule.query)
    return f"?{f.query(org=str(rule.org_id))}"


def recheck(rule_pk: int, session_pk: int, now: datetime | None = None) -> str:
    """Why a target may no longer be archived, read from the database now; "" if it may.

    A pause (the rule's, or every rule's) also stops a run already under way.
    """
    now = now or timezone.now()
    rule = Rule.objects.filter(pk=rule_pk).only("enabled", "paused_reason").first()
    if rule is None or not runnable(rule):
        return PAUSED
    row = (
        Session.objects.filter(pk=session_pk)
        .values("is_archived", "status", "status_detail", "updated_at")
        .first()
    )
    if row is None:
        return wording.NO_LONGER_IN_DASHBOARD
    if row["is_archived"]:
        return "Already archived."
    if row["status"] == "running" and row["status_detail"] in LIVE_DETAILS:
        return "Skipped: the session is at work or waiting for a person."
    if row["updated_at"] > now - QUIET:
        return "Skipped: the session changed in the last hour."
    return ""


def runnable(rule: Rule) -> bool:
    return rule.enabled and not rule.paused_reason and not RulesSwitch.all_paused()


def enqueue_due(now: datetime | None = None) -> int:
    """The scheduler's turn: queue a run of each enabled rule that is due. Returns how many.

    Moving `next_run_at` on with a conditional UPDATE claims the turn, so two schedulers
    cannot both queue it.
    """
    now = now or timezone.now()
    if RulesSwitch.all_paused():
        return 0
    due = Rule.objects.filter(enabled=True, paused_reason="").filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    )
    queued = 0
    for pk, every, at in due.values_list("pk", "every_minutes", "next_run_at"):
        claimed = Rule.objects.filter(pk=pk, next_run_at=at).update(
            next_run_at=now + timedelta(minutes=every)
        )
        if claimed:
            rule_task.enqueue(pk)
            queued += 1
    return queued


@task()
def rule_task(rule_pk: int) -> None:
    """One run of a rule: fix its targets (at most `cap`) as a bulk run and queue it."""
    rule = Rule.objects.select_related("org").filter(pk=rule_pk).first()
    if rule is None or not runnable(rule):
        return
    if rule.runs.filter(state=BulkRun.State.RUNNING).exists():
        return  # the last run is still at work: its targets would overlap
    try:
        start_run(rule)
    except Exception as exc:
        log.exception("rule %s: the run could not start", rule.pk)
        with transaction.atomic():
            _summary(rule, 0, 0, error=f"The run could not start: {type(exc).__name__}.")


def start_run(rule: Rule) -> BulkRun | None:
    """Fix the targets as a bulk run and queue it; None (and a summary) if nothing matched."""
    sessions = list(matches(rule).only("pk", "title", "session_id")[: rule.cap])
    with transaction.atomic():
        if not sessions:
            _summary(rule, 0, 0)
            return None
        run = BulkRun.objects.create(
            rule=rule, actor=None, description=f"{rule.actor_name}: {len(sessions)} sessions"
        )
        BulkItem.objects.bulk_create(
            (
                BulkItem(run=run, session=s, session_label=f"{s.title or s.session_id}"[:300])
                for s in sessions
            ),
            batch_size=1000,
        )
        transaction.on_commit(functools.partial(bulk.bulk_task.enqueue, run.pk))
    return run


def run_finished(run: BulkRun, ok: int, total: int) -> None:
    """Called by the bulk run's end (in its transaction): the rule's summary and failure count."""
    rule = Rule.objects.select_related("org").filter(pk=run.rule_id or 0).first()
    if rule is None:
        return
    error = ""
    if total and not ok:
        first = run.items.filter(outcome=BulkItem.Outcome.FAILED).exclude(error="").first()
        if first is not None:
            error = first.error
    _summary(rule, ok, total, error=error, run=run)


def _summary(
    rule: Rule, ok: int, total: int, *, error: str = "", run: BulkRun | None = None
) -> None:
    """The run's audit event, and the rule's counters; the third failure in a row pauses it."""
    what = f"run #{run.pk}: " if run is not None else ""
    detail = f"{what}{ok} archived, {total - ok} not, of {total}"
    if error:
        detail += f"; {error}"
    audit.record(
        "rule_run",
        actor_name=rule.actor_name,
        org=rule.org,
        outcome=AuditEvent.Outcome.FAILED if error else AuditEvent.Outcome.OK,
        detail=detail,
    )
    rule.last_run_at = timezone.now()
    rule.archived_total += ok
    rule.failures = rule.failures + 1 if error else 0
    rule.last_error = error[:500]
    fields = ["last_run_at", "archived_total", "failures", "last_error"]
    if rule.failures >= FAILURES_TO_PAUSE:
        rule.enabled = False
        rule.paused_reason = f"Paused after {rule.failures} failing runs in a row: {error}"[:500]
        fields += ["enabled", "paused_reason"]
        audit.record(
            "rule_paused", actor_name=rule.actor_name, org=rule.org, detail=rule.paused_reason
        )
    Rule.objects.filter(pk=rule.pk).update(**{f: getattr(rule, f) for f in fields})
