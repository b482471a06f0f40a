"""The load-time guard on upstream URLs (a first line against SSRF through configuration).

Loopback and private ranges are allowed: local development runs upstreams on 127.0.0.1 and
in-cluster upstreams live on RFC 1918 addresses. Link-local (cloud metadata endpoints live at
169.254.169.254 and fd00:ec2::254), unspecified, multicast and ambiguous numeric hosts are refused.
The check is syntactic: a hostname that resolves to a refused address is the connector's to refuse.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["issuer_url_problem", "upstream_url_problem"]

_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2"}
)
_METADATA_ADDRESSES = (ipaddress.ip_network("fd00:ec2::254/128"),)
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


def upstream_url_problem(url: str) -> str | None:
    """Why `url` may not be used for an upstream, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    del port  # parsed only to reject out-of-range or non-numeric ports
    if parts.scheme not in ("http", "https"):
        return "scheme must be http or https"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use spec.headers"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "a host is required"
    if parts.fragment:
        return "a fragment is not allowed"
    return _host_problem(host)


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def issuer_url_problem(url: str) -> str | None:
    """Why `url` may not be an identity provider's issuer or JWKS URL, or None when it may:
    https (plain http only on loopback, for development), no query, fragment or credentials."""
    reason = upstream_url_problem(url)
    if reason is not None:
        return reason
    parts = urlsplit(url)
    if parts.query:
        return "a query is not allowed"
    if parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK_NAMES:
        return "must be https (plain http only on localhost or 127.0.0.1)"
    return None


def _host_problem(host: str) -> str | None:
    if host in _METADATA_HOSTS:
        return f"host {host} is a cloud metadata endpoint"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".")):
            return f"host {host} is an ambiguous numeric address; write it as a dotted quad"
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return _address_problem(address)


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address.is_unspecified:
        return f"address {address} is unspecified"
    if address.is_link_local or any(address in net for net in _METADATA_ADDRESSES):
        return f"address {address} is link-local (cloud metadata lives there)"
    if address.is_multicast:
        return f"address {address} is multicast"
    return None
