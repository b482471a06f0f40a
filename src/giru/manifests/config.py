"""The immutable, validated configuration the gateway runs on, compiled from manifest documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from giru.manifests.discovery import SearchConfig
from giru.manifests.documents import (
    Document,
    EnvironmentSpec,
    IdentityClaims,
    PolicyDocument,
    SubscriptionSpec,
)
from giru.upstream.auth import MtlsAuth, OAuthClientAuth
from giru.upstream.base import (
    EraChoice,
    Isolation,
    ServerSpec,
    Timeouts,
    Transport,
    TrustMode,
    UpstreamAuth,
    UpstreamOAuth,
)

__all__ = [
    "ClientConfig",
    "Config",
    "EnvironmentConfig",
    "IdentityProviderConfig",
    "IntrospectionConfig",
    "Located",
    "ServerConfig",
    "SubscriptionConfig",
    "ToolMeta",
    "VirtualServerConfig",
    "default_environments",
    "split_tool_ref",
]

Sensitivity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class ToolMeta:
    """Governance metadata an `MCPServer` declares about one of its tools."""

    tags: tuple[str, ...] = ()
    sensitivity: Sensitivity | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One `MCPServer`: what `ServerSpec` needs plus governance metadata.

    Env and header values have their `${VAR}` references resolved; a relative `command` (one
    containing a `/`) and `cwd` are made absolute against the working directory at load time.
    """

    name: str
    transport: Transport
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    cwd: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    tags: tuple[str, ...] = ()
    tools: Mapping[str, ToolMeta] = field(default_factory=lambda: MappingProxyType({}))
    enabled: bool = True
    isolation: Isolation = "shared"
    era: EraChoice = "auto"
    auth: UpstreamAuth | OAuthClientAuth | MtlsAuth | None = None
    """`spec.auth` (None: `none` or absent): resolved from the secret store."""
    keep_stale: bool = True
    trust: TrustMode = "pin"
    oauth: UpstreamOAuth | None = None
    """`spec.auth` of type `oauth2-authorization-code`: tokens from people's connections."""
    source: str = field(default="", compare=False)

    def to_spec(self) -> ServerSpec:
        """The connector's view of this server."""
        return ServerSpec(
            name=self.name,
            transport=self.transport,
            url=self.url,
            command=self.command,
            args=self.args,
            env=dict(self.env),
            cwd=self.cwd,
            headers=dict(self.headers),
            timeouts=self.timeouts,
            tags=self.tags,
            isolation=self.isolation,
            era=self.era,
            auth=self.auth,
            keep_stale=self.keep_stale,
            trust=self.trust,
            oauth=self.oauth,
        )


@dataclass(frozen=True, slots=True)
class VirtualServerConfig:
    """One `VirtualServer`: a named bundle of whole servers and single tools (`server__tool`)."""

    name: str
    servers: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    prefix: bool = True
    auth: Literal["apiKey", "oauth", "any", "none"] = "apiKey"
    search: SearchConfig | None = None
    """`discovery: search`: tools/list offers a few tools and `search_tools` (None: all)."""
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """One `Client`: how it authenticates and what it may use (`servers: ["*"]` means all).

    `key_hashes` are the keys the store holds for it (generated, rotated); `api_key_hash` is the
    one its manifest names, if any.
    """

    name: str
    api_key_hash: str | None = None
    api_key_env: str | None = None
    servers: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    key_hashes: tuple[str, ...] = ()
    rate: tuple[int, int | None] | None = None
    """(requests per second, burst) for all of this client's calls, or None."""
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Identity attributes for policy decisions (`spec.claims`): str, int, float, bool or a
    list of str per key."""
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    """One `Subscription`, its spec as validated (status resolved by the store)."""

    name: str
    spec: SubscriptionSpec
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class EnvironmentConfig:
    name: str
    spec: EnvironmentSpec
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class IntrospectionConfig:
    """How opaque access tokens are checked at an IdP (RFC 7662), the secret resolved."""

    client_id: str
    client_secret: str = field(repr=False)
    endpoint: str | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


@dataclass(frozen=True, slots=True)
class IdentityProviderConfig:
    """One `IdentityProvider`, its `clientSecret` `${VAR}` references resolved."""

    name: str
    issuer: str
    mode: Literal["broker", "direct"] = "broker"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    claims: IdentityClaims = field(default_factory=IdentityClaims)
    audience: str | None = None
    jwks_uri: str | None = None
    required_scopes: tuple[str, ...] = ()
    introspection: IntrospectionConfig | None = None
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything loaded from one manifest file or directory; compare with == to detect changes."""

    servers: Mapping[str, ServerConfig] = field(default_factory=lambda: MappingProxyType({}))
    virtual_servers: Mapping[str, VirtualServerConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    clients: Mapping[str, ClientConfig] = field(default_factory=lambda: MappingProxyType({}))
    subscriptions: Mapping[str, SubscriptionConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    environments: Mapping[str, EnvironmentConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    policies: Mapping[str, PolicyDocument] = field(default_factory=lambda: MappingProxyType({}))
    """`kind: Policy` documents by name: which packs apply where, with their data."""
    identity_providers: Mapping[str, IdentityProviderConfig] = field(
        default_factory=lambda: MappingProxyType({})
    )
    documents: tuple[Located, ...] = field(default=(), compare=False, repr=False)
    """The validated documents this config was compiled from."""

    def server_specs(self) -> dict[str, ServerSpec]:
        """A `ServerSpec` for every enabled server, by name."""
        return {name: s.to_spec() for name, s in self.servers.items() if s.enabled}


def default_environments() -> dict[str, EnvironmentConfig]:
    """The environments every tenant starts with (the seed's dev / staging / prod)."""
    specs = {
        "dev": {"displayName": "Development", "allowAutoApproval": True},
        "staging": {"displayName": "Staging", "allowAutoApproval": True},
        "prod": {"displayName": "Production"},
    }
    return {
        name: EnvironmentConfig(name, EnvironmentSpec.model_validate(spec), "default")
        for name, spec in specs.items()
    }


def split_tool_ref(ref: str) -> tuple[str, str] | None:
    """`("server", "tool")` from `server__tool`, or None when `ref` has no `__` separator."""
    server, sep, tool = ref.partition("__")
    if not sep or not server or not tool:
        return None
    return server, tool


@dataclass(frozen=True, slots=True)
class Located:
    """A validated document and where it came from (`file:document-index`)."""

    source: str
    document: Document
