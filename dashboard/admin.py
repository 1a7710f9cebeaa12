"""Django admin, for superusers who want it. The dashboard's own pages do all daily work.

Tokens are never editable here (nor shown: only the last four characters), and an org's org id
and base URL are read-only: the Organizations page asks for the token again before a stored
token can be sent to a new host.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from dashboard import insightdays
from dashboard.models import AuditEvent, Membership, Organization, Session, SyncRun


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


ORG_FIELDS = (
    "name",
    "org_id",
    "base_url",
    "token_last4",
    "token_set_by",
    "token_set_at",
    "health",
    "health_detail",
    "health_checked_at",
    "can_manage",
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "org_id", "base_url", "health", "health_checked_at"]
    search_fields = ["name", "org_id"]
    fields = ORG_FIELDS
    # Only the name is editable here: a new org id or API host must come with a new token (the
    # Organizations page asks for one), and the token itself is never shown.
    readonly_fields = ORG_FIELDS[1:]
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # an org needs a token: add it on the Organizations page


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "org", "role"]
    list_filter = ["role", "org"]
    autocomplete_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only the dashboard writes (from Devin, or as a record): shown, never edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = ["session_id", "title", "org", "status", "is_archived", "updated_at"]
    list_filter = ["org", "status", "is_archived"]
    search_fields = ["session_id", "title"]

    # The one place sessions are deleted one by one: recount the insight days they counted in.
    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        self.delete_queryset(request, Session.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        days: dict[int, set[date]] = defaultdict(set)
        with transaction.atomic():
            for org_id, day in queryset.values_list("org_id", "created_day").distinct():
                if day is not None:
                    days[org_id].add(day)
            super().delete_queryset(request, queryset)
            for org_id, touched in days.items():
                insightdays.refresh(org_id, touched)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["org", "state", "full", "started_at", "finished_at", "seen", "error"]
    list_filter = ["state", "org"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "action", "outcome", "org_label", "session_id", "detail"]
    list_filter = ["action", "outcome"]
    search_fields = ["actor_name", "org_label", "session_id", "detail"]
    date_hierarchy = "at"

    # Append-only: nobody deletes an audit event either, not even a superuser.
    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
