"""Django admin, for superusers who want it. The dashboard's own pages do all daily work.

Tokens are never editable here (nor shown: only the last four characters), and an org's org id
and base URL are read-only: the Organizations page asks for the token again before a stored
token can be sent to a new host.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["session_id", "title", "org", "status", "is_archived", "updated_at"]
    list_filter = ["org", "status", "is_archived"]
    search_fields = ["session_id", "title"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions come from Devin through a sync

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["org", "state", "full", "started_at", "finished_at", "seen", "error"]
    list_filter = ["state", "org"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "outcome", "org_label", "session_id", "detail"]
    list_filter = ["action", "outcome"]
    search_fields = ["actor_name", "org_label", "session_id", "detail"]
    date_hierarchy = "at"

    # Append-only: nobody adds, edits or deletes an audit event, not even a superuser.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
