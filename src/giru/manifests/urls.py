"""The validation-time guard on upstream and identity URLs (SSRF through configuration;
docs/security/ssrf.md).

The host is judged as the HTTP client will connect to it (`giru.egress`): IDNA-normalized, numeric
forms refused. Loopback and private ranges are allowed here: local development runs upstreams on
127.0.0.1 and in-cluster upstreams live on RFC 1918 addresses (`GIRU_EGRESS__*` narrows that at
connect time). A host name that resolves to a refused address is refused by the connector.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from giru.egress import UPSTREAMS, parse_target, url_problem

__all__ = ["issuer_url_problem", "upstream_url_problem"]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def upstream_url_problem(url: str) -> str | None:
    """Why `url` may not be used for an upstream, or None when it may."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use spec.headers"
    if parts.fragment:
        return "a fragment is not allowed"
    return url_problem(url, UPSTREAMS)


def issuer_url_problem(url: str) -> str | None:
    """Why `url` may not be an identity provider's issuer or JWKS URL, or None when it may:
    https (plain http only on loopback, for development), no query, fragment or credentials."""
    reason = upstream_url_problem(url)
    if reason is not None:
        return reason
    if urlsplit(url).query:
        return "a query is not allowed"
    target = parse_target(url)
    if target.scheme == "http" and target.host not in _LOOPBACK_NAMES:
        return "must be https (plain http only on localhost or 127.0.0.1)"
    return None
