"""Giru as an OAuth 2.1 protected resource (RFC 9728): the resource URL of each endpoint, its
metadata document, and the `WWW-Authenticate` challenge that points a client at it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

__all__ = [
    "WELL_KNOWN",
    "challenge",
    "endpoint_path",
    "metadata_url",
    "protected_resource_metadata",
    "resource_url",
]

WELL_KNOWN: Final = "/.well-known/oauth-protected-resource"


def resource_url(base_url: str, path: str) -> str:
    """The canonical URL of the endpoint at `path` (`/mcp`, `/mcp/<vs>`, `/sse`, ...)."""
    return base_url + path


def metadata_url(base_url: str, path: str) -> str:
    """Where the metadata of the endpoint at `path` is served (the path-suffixed form)."""
    return base_url + WELL_KNOWN + path


def endpoint_path(request_path: str) -> str | None:
    """The endpoint path a metadata request names: `/.well-known/oauth-protected-resource` is
    the aggregated `/mcp`, `…/mcp/<vs>` a virtual server; None when it is not a metadata path."""
    if request_path in (WELL_KNOWN, WELL_KNOWN + "/"):
        return "/mcp"
    if not request_path.startswith(WELL_KNOWN + "/"):
        return None
    return request_path[len(WELL_KNOWN) :].rstrip("/") or "/mcp"


def protected_resource_metadata(
    resource: str, authorization_servers: Sequence[str], scopes: Sequence[str]
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "bearer_methods_supported": ["header"],
        "resource_name": "Giru MCP gateway",
    }
    if scopes:
        document["scopes_supported"] = list(scopes)
    return document


def challenge(
    metadata: str,
    scopes: Sequence[str],
    *,
    error: str | None = None,
    description: str | None = None,
) -> str:
    """A `WWW-Authenticate: Bearer …` value (RFC 6750 §3, RFC 9728 §5.1)."""
    params = [f'resource_metadata="{metadata}"']
    if scopes:
        params.append(f'scope="{" ".join(scopes)}"')
    if error is not None:
        params.append(f'error="{error}"')
    if description is not None:
        params.append(f'error_description="{_quoted(description)}"')
    return "Bearer " + ", ".join(params)


def _quoted(text: str) -> str:
    return "".join(c for c in text if c not in '"\\' and 0x20 <= ord(c) < 0x7F)
