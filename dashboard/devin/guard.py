"""Connections that never reach a link-local or cloud-metadata address, whatever the name.

The base URL check (`dashboard.baseurls`) sees a host name; a name can still resolve to
169.254.169.254 (a DNS record, /etc/hosts, a rebinding resolver) where a cloud serves instance
credentials. `GuardedBackend` resolves the name itself, refuses it if any address is link-local,
and connects to the addresses it checked (not to the name, which could resolve anew). TLS still
checks the certificate against the host name: httpcore takes that from the URL, not the socket.
"""

from __future__ import annotations

import socket
import typing
from collections.abc import Callable
from typing import Final

import httpcore
import httpx

from dashboard.baseurls import is_link_local_host

# Recognised in the ConnectError's message by the transport, which turns it into Misconfigured.
REFUSED: Final = "resolves to a link-local or cloud metadata address"

Resolve = Callable[..., list[tuple[typing.Any, ...]]]


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's own blocking backend, with the addresses checked before connecting."""

    def __init__(self, resolve: Resolve | None = None) -> None:
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = (self._resolve or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            # As httpcore words it, so the transport still tells a DNS failure apart.
            raise httpcore.ConnectError(str(exc)) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not addresses:
            raise httpcore.ConnectError(f"getaddrinfo found no address for {host}")
        refused = [address for address in addresses if is_link_local_host(address)]
        if refused:
            raise httpcore.ConnectError(f"{host} {REFUSED} ({', '.join(refused)})")
        last: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # in the resolver's order, as socket.create_connection does
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


def guarded_transport(resolve: Resolve | None = None) -> httpx.HTTPTransport:
    """An httpx transport whose direct connections go through `GuardedBackend`.

    httpx 0.28 takes no network backend, so it is set on the pool it built. A proxy from the
    environment gets its own transport (httpx's mounts): there the proxy resolves the name.
    """
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if not isinstance(pool, httpcore.ConnectionPool):  # pragma: no cover - no proxy given here
        raise TypeError(f"unexpected httpx pool {type(pool).__name__}")
    pool._network_backend = GuardedBackend(resolve)
    return transport
