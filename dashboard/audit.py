"""One place that writes audit events, so every caller records the same fields."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from dashboard.logs import redact
from dashboard.models import AuditEvent, Organization


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind trusted proxies the hop before them.

    With DASHBOARD_CLIENT_IP_HEADER (e.g. X-Forwarded-For) the chain is that header's hops plus
    REMOTE_ADDR. The last DASHBOARD_TRUSTED_PROXIES hops (a count), or the trailing hops inside
    the listed networks, are our proxies; the hop before them is the client. Anything further
    left was sent by the client and may be forged, so it is never used.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR", "")
    chain = [remote]
    if settings.CLIENT_IP_HEADER:
        forwarded = request.META.get(settings.CLIENT_IP_HEADER, "")
        chain = [hop.strip() for hop in forwarded.split(",") if hop.strip()] + chain
    trusted = settings.TRUSTED_PROXIES
    if isinstance(trusted, int):
        hop = chain[max(0, len(chain) - 1 - trusted)]
    else:
        hop = next((h for h in reversed(chain) if not _within(h, trusted)), chain[0])
    return _address(hop) or _address(remote)


def _address(hop: str) -> str | None:
    """A hop as an IP address ("1.2.3.4:5678" and "[::1]:80" lose their port), or None."""
    if hop.startswith("[") and "]" in hop:
        hop = hop[1 : hop.index("]")]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def _within(hop: str, networks: list[Any]) -> bool:
    address = _address(hop)
    return address is not None and any(ipaddress.ip_address(address) in n for n in networks)


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
        ip=client_ip(request) or ip,
    )
