"""Where OAuth metadata lives, in the order the MCP authorization spec (2025-11-25) tries it, and
whether a Protected Resource Metadata `resource` names the server Giru asked about. Sans-IO.

Protected Resource Metadata (RFC 9728 §3.1): the `resource_metadata` URL of the 401's challenge
when there is one; else the path-inserted well-known URL, then the one at the origin's root.
Authorization server metadata (RFC 8414 §3.1 and OIDC Discovery) for issuer `https://as/p`:
`/.well-known/oauth-authorization-server/p`, `/.well-known/openid-configuration/p`,
`/p/.well-known/openid-configuration`; for an issuer without a path, the first two at the root.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from giru.egress import parse_target

__all__ = ["metadata_urls", "resource_matches", "resource_metadata_urls"]

_PRM = "/.well-known/oauth-protected-resource"
_RFC8414 = "/.well-known/oauth-authorization-server"
_OIDC = "/.well-known/openid-configuration"


def resource_metadata_urls(server_url: str, resource_metadata: str | None) -> tuple[str, ...]:
    """The URLs to try for the Protected Resource Metadata of the server at `server_url`."""
    if resource_metadata:
        return (resource_metadata,)
    parts = urlsplit(server_url)
    path = parts.path.rstrip("/")
    root = urlunsplit((parts.scheme, parts.netloc, _PRM, "", ""))
    if not path:
        return (root,)
    return (urlunsplit((parts.scheme, parts.netloc, _PRM + path, "", "")), root)


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """The URLs to try for the metadata of the authorization server `issuer`."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")

    def at(well_known: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, well_known, "", ""))

    if not path:
        return (at(_RFC8414), at(_OIDC))
    return (at(_RFC8414 + path), at(_OIDC + path), at(path + _OIDC))


def resource_matches(resource: str, server_url: str) -> bool:
    """Whether a PRM `resource` names the server at `server_url`: the same origin (scheme,
    host and port, as the HTTP client normalizes them) and a path that is the server's own or
    a parent of it at a `/` boundary (`https://h/` covers `https://h/mcp`; `https://h/m` does
    not cover `https://h/mcp`). Query and fragment must be absent from `resource`."""
    try:
        theirs, ours = parse_target(resource), parse_target(server_url)
    except ValueError:
        return False
    if theirs.origin != ours.origin:
        return False
    claimed = urlsplit(resource)
    if claimed.query or claimed.fragment:
        return False
    prefix = claimed.path.rstrip("/")
    path = urlsplit(server_url).path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")
