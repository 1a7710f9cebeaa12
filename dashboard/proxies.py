"""What the reverse proxies in front of the dashboard are trusted to say: the client's address
(DASHBOARD_CLIENT_IP_HEADER) and, for sign-in through a proxy, who the user is.

django-ipware reads the forwarded chain (ports, brackets, IPv6, RFC 7239 `Forwarded`); the
dashboard decides how many hops of it to believe, from DASHBOARD_TRUSTED_PROXIES:
- a count N: the last N hops of "header hops + REMOTE_ADDR" are our proxies, the hop before them
  is the client. Nothing checks who REMOTE_ADDR is, so only the proxy may reach the app.
- addresses/networks: a request from anywhere else is judged by its own address, whatever it
  sends; from a trusted proxy, the header's trailing hops inside those networks are proxies too.
Hops further left were written by the client and may be forged, so they are never used.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip
from python_ipware.modern.parsers import IpAddressType, parse_ip, split_proxy_chain


def _remote(request: HttpRequest) -> IpAddressType | None:
    return parse_ip(request.META.get("REMOTE_ADDR", ""))


def _is_trusted(address: IpAddressType | None) -> bool:
    trusted = settings.TRUSTED_PROXIES
    return (
        isinstance(trusted, list)
        and address is not None
        and any(address.version == network.version and address in network for network in trusted)
    )


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request's connection comes from an address in DASHBOARD_TRUSTED_PROXIES.

    Only a list of addresses or networks can say so: a count names no one.
    """
    return _is_trusted(_remote(request))


def _proxies_in_header(request: HttpRequest, hops: list[IpAddressType]) -> int | None:
    """How many of the header's trailing hops are our own proxies; None: ignore the header."""
    trusted = settings.TRUSTED_PROXIES
    if isinstance(trusted, int):
        # REMOTE_ADDR is the nearest of the N proxies, so N - 1 of them are in the header.
        return trusted - 1 if trusted > 0 else None
    if not _is_trusted(_remote(request)):
        return None
    count = 0
    for hop in reversed(hops):
        if not _is_trusted(hop):
            break
        count += 1
    # Every hop a proxy: the left-most is the closest thing to a client there is.
    return min(count, len(hops) - 1)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address (normalised, without port), or None if there is no valid one.

    Also django-axes' AXES_CLIENT_IP_CALLABLE, so throttling and the audit trail agree.
    """
    remote = _remote(request)
    fallback = str(remote) if remote is not None else None
    header = settings.CLIENT_IP_HEADER
    if not header or header not in request.META:
        return fallback
    hops = split_proxy_chain(request.META[header]) or []
    proxies = _proxies_in_header(request, hops)
    if proxies is None or not hops:
        return fallback
    # Not strict: a garbled hop the client added on the left must not void the chain, which is
    # read from the right. Only the configured header is read, never ipware's default list
    # (any of which a client could send).
    found, _routable = get_client_ip(
        request, proxy_count=proxies, request_header_order=[header], strict=False
    )
    return found or fallback
