"""The audit trail (read-only: no view here changes or deletes an event).

Admins see every event. Everyone else sees the events of their own orgs, and of the events that
belong to no org (sign-ins, team changes) only their own. Filters live in the URL; pages are keyset
("older than this event"), so the thousandth page costs what the first does; the CSV export
streams the whole filtered view.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.access import is_site_admin, visible_orgs
from dashboard.fields import DayField, FallbackChoiceField, TextField
from dashboard.filters import UNKNOWN_ORG, FilterForm
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, Organization
from dashboard.paging import Keyset

PER_PAGE = 50
NO_ORG = "none"
# Every action the dashboard records, for the filter menu. An action seen in a link is offered
# too, so an action added later can still be filtered before it is listed here.
ACTIONS = [
    "sign_in",
    "sign_in_locked",
    "sign_in_unlocked",
    "sign_out",
    "signed_out_elsewhere",
    "password_changed",
    "password_reset",
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
    "terminate",
    "message",
    "conversation_read",
    "tags_changed",
    "bulk_archive",
    "bulk_terminate",
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
            action__in=["sign_in", "sign_in_locked"],
            actor_name=user.get_username(),
        )
    )


AUDIT_KEYSET = Keyset(AuditEvent, "at")


class AuditFilters(FilterForm):
    """The audit page's filters. `org_pks` are the orgs the user may see."""

    org = forms.CharField(required=False)  # an org pk, NO_ORG, or "" for all
    actor = TextField(150, strip=True)
    action = TextField(50, strip=True)
    outcome = FallbackChoiceField(AuditEvent.Outcome.choices, "")
    start = DayField()
    end = DayField()
    expired_note = "That page link has expired; showing the newest events."
    lookups: ClassVar[dict[str, str]] = {
        "actor": "actor_name",
        "action": "action",
        "outcome": "outcome",
    }

    def __init__(self, data: QueryDict, *, org_pks: Collection[int]) -> None:
        self.org_values = {str(pk) for pk in org_pks} | {NO_ORG}
        super().__init__(data)

    def clean_org(self) -> str:
        org: str = self.cleaned_data["org"]
        if org and org not in self.org_values:
            raise ValidationError(UNKNOWN_ORG, code="unknown")
        return org

    def keyset(self) -> Keyset:
        return AUDIT_KEYSET

    def apply[M: Model](self, qs: QuerySet[M]) -> QuerySet[M]:
        qs = super().apply(qs)
        f = self.cleaned_data
        if f["org"] == NO_ORG:
            qs = qs.filter(org__isnull=True)
        elif f["org"]:
            qs = qs.filter(org_id=int(f["org"]))
        # Dates are days in the server's time zone, both ends included.
        if f["start"]:
            qs = qs.filter(at__gte=_midnight(f["start"]))
        if f["end"]:
            qs = qs.filter(at__lt=_midnight(f["end"] + timedelta(days=1)))
        return AUDIT_KEYSET.order(qs)


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _choices(known: list[str], chosen: str) -> list[str]:
    return known + [chosen] if chosen and chosen not in known else known


def _filters(request: AuthenticatedHttpRequest) -> tuple[AuditFilters, list[Organization]]:
    orgs = list(visible_orgs(request.user).order_by("name"))
    return AuditFilters(request.GET, org_pks=[org.pk for org in orgs]), orgs


@require_GET
def audit(request: AuthenticatedHttpRequest) -> HttpResponse:
    f, orgs = _filters(request)
    page = f.page(f.apply(visible_events(request.user)), PER_PAGE)
    admin = is_site_admin(request.user)
    context = {
        "nav": "audit",
        "rows": page.rows,
        "f": f,
        "orgs": orgs,
        "no_org": NO_ORG,
        "actions": _choices(ACTIONS, f.cleaned_data["action"]),
        "outcomes": AuditEvent.Outcome.choices,
        "outcome_badges": OUTCOME_BADGES,
        "next_query": f.query(after=page.next_cursor) if page.next_cursor else "",
        "first_query": f.query() if f.cleaned_data["after"] else None,
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
    f, _ = _filters(request)  # the export is the whole filtered view, not one page of it
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return StreamingHttpResponse(
        _csv_lines(f.apply(visible_events(request.user))),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
