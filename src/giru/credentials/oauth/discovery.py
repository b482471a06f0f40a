"""Which authorization server protects an upstream MCP server, and its metadata.

    discovery = Discovery(OAuthHttp(egress_session))
    found = await discovery.discover("https://mcp.example.com/mcp", challenge)  # or None
    found.server.token_endpoint, found.scopes, found.resource

`discover` follows the MCP authorization spec: the Protected Resource Metadata (RFC 9728) named
by the 401's `resource_metadata`, else at the well-known URLs (`wellknown`); its `resource` must
name the server (`resource_matches`) or discovery is refused. Then the metadata of its first
authorization server (RFC 8414 / OIDC, `metadata_urls` order) whose `issuer` must equal the
issuer asked for, character for character (RFC 8414 §3.3). A server with no PRM at all is
treated as its own authorization server (the 2025-03-26 back-compat rule). Without a challenge
the server is asked once (an unauthenticated POST) for its 401. Results are cached `cache_s`
per server URL; failures are not cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from giru.credentials.oauth.challenge import BearerChallenge
from giru.credentials.oauth.errors import DiscoveryError, OAuthError
from giru.credentials.oauth.transport import OAuthHttp
from giru.credentials.oauth.wellknown import (
    metadata_urls,
    resource_matches,
    resource_metadata_urls,
)

__all__ = ["AuthorizationServer", "Discovered", "Discovery", "ProtectedResource"]

_MAX_CACHED: Final = 1000
_DEFAULT_GRANTS: Final = ("authorization_code", "implicit")  # RFC 8414 §2 defaults
_DEFAULT_AUTH_METHODS: Final = ("client_secret_basic",)


@dataclass(frozen=True, slots=True)
class ProtectedResource:
    """RFC 9728 metadata of an MCP server (the fields Giru uses)."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationServer:
    """RFC 8414 / OIDC metadata of an authorization server (`raw` holds every field)."""

    issuer: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    registration_endpoint: str | None = None
    revocation_endpoint: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    grant_types_supported: tuple[str, ...] = _DEFAULT_GRANTS
    token_endpoint_auth_methods_supported: tuple[str, ...] = _DEFAULT_AUTH_METHODS
    code_challenge_methods_supported: tuple[str, ...] = ()
    client_id_metadata_document_supported: bool = False
    authorization_response_iss_parameter_supported: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, issuer: str, document: Any) -> AuthorizationServer:
        """Metadata from a fetched document, checked: `issuer` equal to the one asked for,
        a `token_endpoint` string. Raises `DiscoveryError`."""
        if not isinstance(document, dict):
            raise DiscoveryError("authorization server metadata is not a JSON object")
        if document.get("issuer") != issuer:
            raise DiscoveryError(
                f"authorization server metadata names issuer {document.get('issuer')!r}, "
                f"not {issuer!r} (RFC 8414 §3.3: refused)"
            )
        token_endpoint = document.get("token_endpoint")
        if not isinstance(token_endpoint, str):
            raise DiscoveryError(f"authorization server {issuer} has no token_endpoint")
        return cls(
            issuer=issuer,
            token_endpoint=token_endpoint,
            authorization_endpoint=_text(document, "authorization_endpoint"),
            registration_endpoint=_text(document, "registration_endpoint"),
            revocation_endpoint=_text(document, "revocation_endpoint"),
            scopes_supported=_texts(document, "scopes_supported"),
            grant_types_supported=_texts(document, "grant_types_supported") or _DEFAULT_GRANTS,
            token_endpoint_auth_methods_supported=_texts(
                document, "token_endpoint_auth_methods_supported"
            )
            or _DEFAULT_AUTH_METHODS,
            code_challenge_methods_supported=_texts(document, "code_challenge_methods_supported")
            or (),
            client_id_metadata_document_supported=document.get(
                "client_id_metadata_document_supported"
            )
            is True,
            authorization_response_iss_parameter_supported=document.get(
                "authorization_response_iss_parameter_supported"
            )
            is True,
            raw=document,
        )


@dataclass(frozen=True, slots=True)
class Discovered:
    """What discovery found for one MCP server."""

    server: AuthorizationServer
    resource: str
    """The RFC 8707 `resource` to ask tokens for: the PRM's `resource` (the server URL when
    the server has no PRM)."""
    scopes: tuple[str, ...]
    """The scopes to ask for: the challenge's, else the PRM's `scopes_supported`, else none
    (MCP spec, scope selection strategy)."""
    protected_resource: ProtectedResource | None


class Discovery:
    """Discovery with a cache (see the module docstring)."""

    def __init__(
        self,
        http: OAuthHttp,
        *,
        cache_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._cache_s = cache_s
        self._clock = clock
        self._found: dict[str, tuple[float, Discovered]] = {}
        self._servers: dict[str, tuple[float, AuthorizationServer]] = {}

    def forget(self, server_url: str | None = None) -> None:
        """Discover again on next use (one server, or every one)."""
        if server_url is None:
            self._found.clear()
            self._servers.clear()
        else:
            self._found.pop(server_url, None)

    async def discover(
        self, server_url: str, challenge: BearerChallenge | None = None
    ) -> Discovered:
        """The authorization server of the MCP server at `server_url` (module docstring).

        Args:
            server_url: The MCP endpoint, as configured.
            challenge: The `Bearer` challenge of its 401/403 when the caller has one (its
                `scope` then wins over the cached scopes); None: asked for when not cached.

        Raises:
            DiscoveryError: see its docstring.
        """
        cached = self._found.get(server_url)
        if cached is not None and cached[0] > self._clock() and not _news(challenge):
            return cached[1]
        if challenge is None:
            challenge = await self._http.challenge(server_url)
        found = await self._discover(server_url, challenge)
        if len(self._found) >= _MAX_CACHED:
            self._found.clear()
        self._found[server_url] = (self._clock() + self._cache_s, found)
        return found

    async def authorization_server(self, issuer: str) -> AuthorizationServer:
        """The metadata of `issuer`, from the first well-known URL that answers 200 (cached)."""
        cached = self._servers.get(issuer)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        problems: list[str] = []
        for url in metadata_urls(issuer):
            try:
                reply = await self._http.get(url)
                if reply.status != 200:
                    problems.append(f"{url} answered {reply.status}")
                    continue
                server = AuthorizationServer.parse(issuer, reply.json())
            except DiscoveryError:
                raise  # a wrong issuer is refused, not skipped for the next URL
            except OAuthError as exc:
                problems.append(exc.message)
                continue
            if len(self._servers) >= _MAX_CACHED:
                self._servers.clear()
            self._servers[issuer] = (self._clock() + self._cache_s, server)
            return server
        raise DiscoveryError(
            f"no authorization server metadata for {issuer}: {'; '.join(problems)}"
        )

    async def _discover(self, server_url: str, challenge: BearerChallenge | None) -> Discovered:
        metadata_url = challenge.resource_metadata if challenge is not None else None
        protected = await self._protected_resource(server_url, metadata_url)
        if protected is None:  # 2025-03-26: the MCP server's origin is its own AS
            parts = urlsplit(server_url)
            issuer = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
            resource = server_url
        else:
            issuer, resource = protected.authorization_servers[0], protected.resource
        server = await self.authorization_server(issuer)
        scopes = challenge.scope if challenge is not None and challenge.scope else ()
        if not scopes and protected is not None and protected.scopes_supported:
            scopes = protected.scopes_supported
        return Discovered(server, resource, scopes, protected)

    async def _protected_resource(
        self, server_url: str, metadata_url: str | None
    ) -> ProtectedResource | None:
        for url in resource_metadata_urls(server_url, metadata_url):
            reply = await self._http.get(url)
            if reply.status != 200:
                continue
            return _parse_resource(server_url, reply.json())
        if metadata_url is not None:
            raise DiscoveryError(f"the resource metadata at {metadata_url} cannot be read")
        return None


def _news(challenge: BearerChallenge | None) -> bool:
    return challenge is not None and bool(challenge.scope or challenge.resource_metadata)


def _parse_resource(server_url: str, document: Any) -> ProtectedResource:
    if not isinstance(document, dict) or not isinstance(document.get("resource"), str):
        raise DiscoveryError("protected resource metadata has no resource")
    resource = document["resource"]
    if not resource_matches(resource, server_url):
        raise DiscoveryError(
            f"protected resource metadata names resource {resource!r}, which is not "
            f"{server_url} (RFC 9728 §3.3: refused)"
        )
    servers = _texts(document, "authorization_servers")
    if not servers:
        raise DiscoveryError(f"protected resource metadata of {server_url} names no server")
    return ProtectedResource(resource, servers, _texts(document, "scopes_supported"))


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) else None


def _texts(document: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = document.get(name)
    if not isinstance(value, list):
        return None
    return tuple(item for item in value if isinstance(item, str))
