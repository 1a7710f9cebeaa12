"""One place that writes audit events, so every caller records the same fields."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dashboard.logs import redact
from dashboard.models import AuditEvent, Organization
from dashboard.proxies import client_ip


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: Any = None,
    org: Organization | None = None,
    outcome: str = AuditEvent.Outcome.OK,
    session_id: str = "",
    detail: str = "",
    actor_name: str = "",
    ip: str | None = None,
) -> AuditEvent:
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor_name or (actor.get_username() if actor is not None else ""),
        org=org if org is not None and org.pk else None,
        org_label=str(org) if org is not None else "",
        outcome=outcome,
        session_id=session_id,
        detail=redact(detail)[:2000],
        ip=(client_ip(request) if request is not None else None) or ip,
    )
