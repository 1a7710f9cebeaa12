"""The audit trail (read-only: no view here changes or deletes an event) and locked sign-ins.

Admins see every event. Everyone else sees the events of their own orgs, and of the events that
belong to no org (sign-ins, team changes) only their own. Filters live in the URL; pages are keyset
("older than this event"), so the thousandth page costs what the first does; the CSV export
streams the whole filtered view.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard import throttle
from dashboard.access import is_site_admin, require_site_admin, visible_orgs
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, Organization

PER_PAGE = 50
NO_ORG = "none"
# Every action the dashboard records, for the filter menu. An action seen in a link is offered
# too, so an action added later can still be filtered before it is listed here.
ACTIONS = [
    "sign_in",
    "sign_in_locked",
    "sign_in_unlocked",
    "sign_out",
    "user_created",
    "user_deactivated",
    "user_reactivated",
    "admin_granted",
    "admin_revoked",
    "membership_changed",
    "credential_created",
    "credential_replaced",
    "credential_tested",
    "credential_decrypt_failed",
    "credential_reencrypted",
    "org_deleted",
    "sync",
    "track",
    "archive",
    "unarchive",
    "bulk_archive",
]
OUTCOME_BADGES = {"ok": "ok", "failed": "bad", "denied": "warn"}
CSV_COLUMNS = ["time", "actor", "action", "outcome", "organization", "session", "detail", "address"]
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def visible_events(user: User) -> QuerySet[AuditEvent]:
    if is_site_admin(user):
        return AuditEvent.objects.all()
    org_pks = list(visible_orgs(user).values_list("pk", flat=True))
    return AuditEvent.objects.filter(
        Q(org_id__in=org_pks)
        | Q(org__isnull=True, actor=user)
        # Failed and refused sign-ins have no actor, only the username that was typed.
        | Q(
            org__isnull=True,
            actor__isnull=True,
            action__in=[throttle.SIGN_IN, throttle.LOCKED],
            actor_name=user.get_username(),
        )
    )


@dataclass
class AuditFilters:
    org: str = ""  # an org pk, NO_ORG, or "" for all
    actor: str = ""
    action: str = ""
    outcome: str = ""
    start: date | None = None
    end: date | None = None
    after: tuple[datetime, int] | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: QueryDict, org_pks: set[int]) -> AuditFilters:
        """Read leniently: a garbled value is dropped with a note, never a 500."""
        f = cls()
        org = query.get("org", "")
        if org == NO_ORG or (org.isdigit() and int(org) in org_pks):
            f.org = org
        elif org:
            f.errors.append("Unknown organization in the link; showing all.")
        f.actor = query.get("actor", "").strip()[:150]
        f.action = query.get("action", "").strip()[:50]
        f.outcome = query.get("outcome", "")
        if f.outcome not in AuditEvent.Outcome.values:
            f.outcome = ""
        for name in ("start", "end"):
            raw = query.get(name, "").strip()
            if raw:
                try:
                    setattr(f, name, date.fromisoformat(raw))
                except ValueError:
                    f.errors.append(f"“{raw[:20]}” is not a date (YYYY-MM-DD); it is ignored.")
        raw_after = query.get("after", "")
        if raw_after:
            f.after = decode_cursor(raw_after)
            if f.after is None:
                f.errors.append("That page link has expired; showing the newest events.")
        return f

    @property
    def is_filtered(self) -> bool:
        return any((self.org, self.actor, self.action, self.outcome, self.start, self.end))

    def apply(self, qs: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.org == NO_ORG:
            qs = qs.filter(org__isnull=True)
        elif self.org:
            qs = qs.filter(org_id=int(self.org))
        if self.actor:
            qs = qs.filter(actor_name=self.actor)
        if self.action:
            qs = qs.filter(action=self.action)
        if self.outcome:
            qs = qs.filter(outcome=self.outcome)
        # Dates are days in the server's time zone, both ends included.
        if self.start:
            qs = qs.filter(at__gte=_midnight(self.start))
        if self.end:
            qs = qs.filter(at__lt=_midnight(self.end + timedelta(days=1)))
        return qs.order_by("-at", "-pk")

    def page(self, qs: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.after is not None:
            at, pk = self.after
            qs = qs.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
        return qs

    def pairs(self, **changes: Any) -> list[tuple[str, str]]:
        params = {
            "org": self.org,
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
        }
        params.update(changes)
        return [(key, value) for key, value in params.items() if value]

    def query(self, **changes: Any) -> str:
        return urlencode(self.pairs(**changes))


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def cursor_for(event: AuditEvent) -> str:
    payload = json.dumps([event.at.isoformat(), event.pk]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int] | None:
    try:
        at, pk = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if isinstance(pk, bool) or not isinstance(pk, int):
            return None
        when = datetime.fromisoformat(at)
        if timezone.is_naive(when):
            return None
        return when, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def _choices(known: list[str], chosen: str) -> list[str]:
    return known + [chosen] if chosen and chosen not in known else known


def _filters(request: AuthenticatedHttpRequest) -> tuple[AuditFilters, list[Organization]]:
    orgs = list(visible_orgs(request.user).order_by("name"))
    return AuditFilters.from_query(request.GET, {org.pk for org in orgs}), orgs


@require_GET
def audit(request: AuthenticatedHttpRequest) -> HttpResponse:
    f, orgs = _filters(request)
    rows = list(f.page(f.apply(visible_events(request.user)))[: PER_PAGE + 1])
    has_next = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    admin = is_site_admin(request.user)
    context = {
        "nav": "audit",
        "rows": rows,
        "f": f,
        "orgs": orgs,
        "no_org": NO_ORG,
        "actions": _choices(ACTIONS, f.action),
        "outcomes": AuditEvent.Outcome.choices,
        "outcome_badges": OUTCOME_BADGES,
        "next_query": f.query(after=cursor_for(rows[-1])) if has_next else "",
        "first_query": f.query() if f.after else None,
        "csv_query": f.query(),
        "usernames": (
            User.objects.order_by("username").values_list("username", flat=True) if admin else []
        ),
    }
    return render(request, "dashboard/audit.html", context)


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer in a stream."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: object) -> str:
    """The value as text, defused for spreadsheets: a formula-like start gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    fields = ("at", "actor_name", "action", "outcome", "org_label", "session_id", "detail", "ip")
    for row in events.values_list(*fields).iterator(chunk_size=2000):
        at, *rest = row
        yield writer.writerow([at.isoformat(), *(safe_cell(value) for value in rest)])


@require_GET
def audit_csv(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    f, _ = _filters(request)
    f.after = None  # the export is the whole filtered view, not one page of it
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        _csv_lines(f.apply(visible_events(request.user))),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


@require_GET
def sign_in_locks(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    return render(
        request,
        "dashboard/sign_in_locks.html",
        {"nav": "audit", "locks": throttle.current_locks()},
    )


@require_POST
def sign_in_unlock(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_site_admin(request)
    username = request.POST.get("username", "")[:150]
    if username:
        throttle.unlock(username, request=request)
        message = f"Unlocked {username}: they can sign in again from any address."
    else:
        message = ""
    if request.htmx:
        context = {"locks": throttle.current_locks(), "unlocked": message}
        return render(request, "dashboard/sign_in_locks.html#locks", context)
    if message:
        messages.success(request, message)
    else:
        messages.error(request, "Choose a username to unlock.")
    return redirect("sign_in_locks")
