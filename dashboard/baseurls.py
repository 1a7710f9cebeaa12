"""The one check of an organization's API base URL: when it is saved (forms, set_credential)
and again whenever it is used (`refusal`, called as the Devin client is built), so an org saved
before a rule was added is held to it too, and never sent a request it would now refuse.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Link-local addresses, where clouds serve instance metadata (credentials included), and the
# metadata service's names: never a Devin API, whatever the scheme.
LINK_LOCAL = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
METADATA_HOSTS = ("metadata.google.internal", "metadata.goog", "instance-data.ec2.internal")


def is_link_local_host(host: str) -> bool:
    """Whether `host` is a link-local or cloud-metadata address, in any spelling an OS accepts
    ("169.254.169.254", "2852039166", "0xa9fea9fe", "::ffff:169.254.169.254", "fe80::1%eth0")."""
    name = host.lower().rstrip(".")
    if name in METADATA_HOSTS:
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        try:
            # The legacy forms (decimal, hex, octal, short) that inet_aton and so httpx accept.
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except (OSError, ValueError):
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in LINK_LOCAL)


def normalize_base_url(value: str) -> str:
    """The base URL in one canonical form (lower-case scheme and host, no trailing slash).

    https only, except http:// to a loopback host (the fake API, local testing): anywhere else
    the token would cross the network in clear text.
    """
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValidationError(
            "This is not a usable URL. Use one like https://api.devin.ai.", code="base_url"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationError(
            "The API base URL must start with https://, like https://api.devin.ai.",
            code="base_url_scheme",
        )
    host = parts.hostname or ""
    if not host:
        raise ValidationError(
            "The API base URL needs a host name, like https://api.devin.ai.", code="base_url_host"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "The API base URL must not contain a user name or password.", code="base_url_userinfo"
        )
    if parts.query or parts.fragment:
        raise ValidationError(
            "The API base URL must not have a query (?…) or a fragment (#…).",
            code="base_url_query",
        )
    if is_link_local_host(host):
        raise ValidationError(
            "This is a link-local or cloud metadata address, never a Devin API. "
            "Use https://api.devin.ai or your deployment's API host.",
            code="base_url_link_local",
        )
    if scheme == "http" and not is_loopback_host(host):
        raise ValidationError(
            "Use https://. Plain http:// is allowed only for a test server on this machine "
            "(localhost, 127.0.0.1 or ::1): elsewhere the token would travel unencrypted.",
            code="base_url_insecure",
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def refusal(base_url: str) -> str | None:
    """Why `base_url` may not be used, in words for an admin; None if it may."""
    try:
        normalize_base_url(base_url)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None
