"""The shape of one manifest document (`apiVersion: giru.ai/v1alpha1`), validated by pydantic.

Rules that involve several fields of one document live in each spec's `problems()` so that every
problem is reported with its own field path; rules across documents live in `config.py`. Field
types shared by every kind are in `fields.py`; upstream auth in `upstream_auth.py`; the
IdentityProvider kind in `identity.py`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema

from giru.manifests.bounds import BoundedJson, BoundedObject
from giru.manifests.discovery import Discovery, DiscoverySpec
from giru.manifests.fields import (
    API_VERSION,
    SECRET_NAME_PATTERN,
    ClaimValue,
    Duration,
    EnvName,
    Identifier,
    Name,
    Problem,
    SpecModel,
    Tag,
    ToolName,
    parse_duration,
)
from giru.manifests.identity import IdentityClaims, IdentityProviderSpec, IntrospectionSpec
from giru.manifests.upstream_auth import (
    AuthorizationCodeAuth,
    AuthSpec,
    NoAuth,
    SecretRef,
    StaticAuth,
    credential_auth_problems,
)
from giru.manifests.urls import upstream_url_problem

__all__ = [
    "API_VERSION",
    "KINDS",
    "SECRET_NAME_PATTERN",
    "AuthorizationCodeAuth",
    "CatalogSpec",
    "ClientDocument",
    "ClientSpec",
    "DiscoverySpec",
    "Document",
    "EnvironmentDocument",
    "EnvironmentSpec",
    "IdentityClaims",
    "IdentityProviderDocument",
    "IdentityProviderSpec",
    "IntrospectionSpec",
    "MCPServerDocument",
    "MCPServerSpec",
    "Metadata",
    "NoAuth",
    "PolicyDocument",
    "PolicySelector",
    "PolicySpec",
    "SecretRef",
    "StaticAuth",
    "SubscriptionDocument",
    "SubscriptionSpec",
    "SubscriptionSubject",
    "ToolSpec",
    "VirtualServerDocument",
    "VirtualServerSpec",
    "parse_duration",
]

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CLAIMS_MAX = 64
_PACKS_MAX = 20
# Well-known claims the policy packs read (docs/policies/manifest.md): their value types.
_CLAIM_TYPES: dict[str, tuple[type, str]] = {
    "user_id": (str, "a string"),
    "role": (str, "a string"),
    "mfa": (bool, "true or false"),
    "network_zone": (str, "a string"),
    "purpose_of_use": (str, "a string"),
    "lawful_basis": (str, "a string"),
    "location": (str, "a string"),
}
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_HMAC = re.compile(r"hmac-sha256:[0-9a-f]{64}")
# The gateway owns these on the upstream connection; a manifest must not override them.
_MANAGED_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "mcp-protocol-version",
        "mcp-session-id",
        "transfer-encoding",
    }
)


class Metadata(SpecModel):
    name: Name


class TimeoutsSpec(SpecModel):
    connect: Duration = 10.0
    call: Duration = 60.0
    call_max: Duration = 600.0


class ToolSpec(SpecModel):
    """Governance metadata about one upstream tool (used by policies later)."""

    tags: list[Tag] = Field(default_factory=list)
    sensitivity: Literal["low", "medium", "high"] | None = None
    category: Tag | None = None


class CatalogSpec(SpecModel):
    """What clients see of this server's lists while it is unhealthy."""

    keep_stale: bool = True
    """true: its tools stay listed and calls to them fail at once with a clear error; false:
    they leave clients' views (list_changed) until it is healthy again (list_changed)."""


class MCPServerSpec(SpecModel):
    transport: Literal["stdio", "sse", "streamable-http"]
    url: str | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[EnvName, str] | None = None
    cwd: str | None = None
    headers: dict[str, str] | None = None
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    tags: list[Tag] = Field(default_factory=list)
    tools: dict[ToolName, ToolSpec] = Field(default_factory=dict)
    enabled: bool = True
    isolation: Literal["shared", "session"] = "shared"
    era: Literal["auto", "legacy", "modern"] = "auto"
    auth: AuthSpec | None = None
    """How Giru authenticates to this server; values come from secrets (docs/credentials.md)."""
    catalog: CatalogSpec = Field(default_factory=CatalogSpec)
    trust: Literal["pin", "review", "auto"] = "pin"
    """How its tool definitions are trusted: `pin` (the first surface seen is approved, every
    later change is held for review), `review` (the first surface waits for an administrator
    too), `auto` (no pinning: any definition is served; risky). docs/tool-trust.md."""

    def problems(self) -> list[Problem]:
        """Rules that depend on the transport or on several fields."""
        found = self._stdio_problems() if self.transport == "stdio" else self._http_problems()
        if self.timeouts.call_max < self.timeouts.call:
            found.append(("spec.timeouts.callMax", "must be at least spec.timeouts.call"))
        if isinstance(self.auth, StaticAuth):
            found += self._static_auth_problems(self.auth)
        found += credential_auth_problems(self.auth, self.transport, self.url)
        if isinstance(self.auth, AuthorizationCodeAuth):
            if self.transport == "stdio":
                found.append(("spec.auth.type", "OAuth needs an HTTP transport, not stdio"))
            if self.auth.client_secret is not None and self.auth.client_id is None:
                found.append(("spec.auth.clientSecret", "needs spec.auth.clientId"))
        return found

    def _static_auth_problems(self, auth: StaticAuth) -> list[Problem]:
        found: list[Problem] = []
        if any(c in auth.prefix for c in "\r\n\x00"):
            found.append(("spec.auth.prefix", "must not hold line breaks or NUL"))
        if self.transport == "stdio":
            if auth.header is not None:
                found.append(("spec.auth.header", "not allowed when transport is stdio; use env"))
            if auth.env is None:
                found.append(("spec.auth.env", "required when transport is stdio"))
            elif auth.env in (self.env or {}):
                found.append(("spec.auth.env", f"{auth.env} is also set in spec.env"))
            return found
        if auth.env is not None:
            found.append(("spec.auth.env", "only allowed when transport is stdio; use header"))
        header = auth.header or "Authorization"
        if not _HEADER_NAME.fullmatch(header):
            found.append(("spec.auth.header", "not a valid HTTP header name"))
        elif header.lower() in _MANAGED_HEADERS:
            found.append(("spec.auth.header", "managed by the gateway"))
        elif header.lower() in {h.lower() for h in self.headers or {}}:
            found.append(("spec.auth.header", f"{header} is also set in spec.headers"))
        return found

    def _stdio_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.command:
            found.append(("spec.command", "required when transport is stdio"))
        for field in ("url", "headers"):
            if getattr(self, field) is not None:
                found.append((f"spec.{field}", "not allowed when transport is stdio"))
        return found

    def _http_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.url is None:
            found.append(("spec.url", f"required when transport is {self.transport}"))
        else:
            reason = upstream_url_problem(self.url)
            if reason is not None:
                found.append(("spec.url", reason))
        for field in ("command", "args", "env", "cwd"):
            if getattr(self, field) is not None:
                found.append((f"spec.{field}", "only allowed when transport is stdio"))
        for header in self.headers or {}:
            if not _HEADER_NAME.fullmatch(header):
                found.append((f"spec.headers.{header}", "not a valid HTTP header name"))
            elif header.lower() in _MANAGED_HEADERS:
                found.append((f"spec.headers.{header}", "managed by the gateway; remove it"))
        return found


class VirtualServerSpec(SpecModel):
    servers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    prefix: bool = True
    auth: Literal["apiKey", "oauth", "any", "none"] = "apiKey"
    """`apiKey`: a Client's key; `oauth`: an access token of an IdentityProvider; `any`: either."""
    discovery: Discovery = Field(default_factory=DiscoverySpec)
    """`list`: tools/list lists every tool; `search`: a few, and `search_tools` finds the rest."""

    def problems(self) -> list[Problem]:
        found = self.discovery.problems()
        if not self.servers and not self.tools:
            found.insert(0, ("spec", "list at least one of servers or tools"))
        return found


class ClientSpec(SpecModel):
    """With neither `apiKeyHash` nor `apiKeyEnv`, Giru generates a key and shows it once.

    `servers` and `tools` are standing grants; `Subscription`s add governed, time-bound ones.
    """

    api_key_hash: str | None = None
    api_key_env: EnvName | None = None
    servers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    rate_limit_rps: int | None = Field(default=None, ge=1, le=1_000_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    claims: Annotated[dict[Identifier, ClaimValue], BoundedJson] = Field(
        default_factory=dict, max_length=_CLAIMS_MAX
    )
    """Identity attributes policies decide on (`user_id`, `role`, `mfa`, ...), verbatim."""

    def problems(self) -> list[Problem]:
        if self.api_key_hash is not None and self.api_key_env is not None:
            return [("spec", "set at most one of apiKeyHash or apiKeyEnv")]
        if self.burst is not None and self.rate_limit_rps is None:
            return [("spec.burst", "needs spec.rateLimitRps")]
        if self.api_key_hash is not None:
            reason = _key_hash_problem(self.api_key_hash)
            if reason is not None:
                return [("spec.apiKeyHash", reason)]
        return _claim_problems(self.claims)


def _claim_problems(claims: dict[str, Any]) -> list[Problem]:
    """Well-known claims must have the type the policy packs expect (`mfa: "yes"` is no MFA)."""
    found: list[Problem] = []
    for key, (kind, described) in _CLAIM_TYPES.items():
        value = claims.get(key)
        if value is not None and type(value) is not kind:
            found.append((f"spec.claims.{key}", f"must be {described}"))
    return found


def _key_hash_problem(value: str) -> str | None:
    if value.startswith("sha256:"):
        if _SHA256.fullmatch(value):
            return None
        return "a sha256 hash is 'sha256:' and 64 lowercase hex digits"
    if value.startswith("hmac-sha256:"):
        if _HMAC.fullmatch(value):
            return None
        return "an hmac-sha256 hash is 'hmac-sha256:' and 64 lowercase hex digits"
    ident = re.fullmatch(r"giru_[a-z2-7]{11}:(\$argon2id\$.*)", value, re.DOTALL)
    if ident is not None:
        value = ident.group(1)  # filed under the key's identifier (giru_<id>)
    if value.startswith("$argon2id$"):
        try:
            extract_parameters(value)
        except InvalidHashError:
            return "not a valid argon2id PHC string"
        return None
    return (
        "must be an argon2id PHC string (giru_<id>:$argon2id$... or $argon2id$...), "
        "sha256:<hex> or hmac-sha256:<hex>"
    )


def _timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with a time zone (YAML may already have parsed it)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z") from None
    if not isinstance(value, datetime):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z")
    if value.tzinfo is None:
        raise ValueError("must include a time zone (Z or +hh:mm)")
    return value.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    PlainValidator(_timestamp),
    PlainSerializer(lambda v: v.isoformat().replace("+00:00", "Z"), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
SubscriptionStatus = Literal["pending", "active", "suspended", "rejected", "expired"]


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_GROUP = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


class SubscriptionSubject(SpecModel):
    """The people a subscription grants to: one person (by email) or everyone in an IdP group."""

    user: str | None = Field(default=None, max_length=320)
    group: str | None = Field(default=None, max_length=256)

    def problems(self) -> list[Problem]:
        if (self.user is None) == (self.group is None):
            return [("spec.subject", "set exactly one of user or group")]
        if self.user is not None and not _EMAIL.fullmatch(self.user):
            return [("spec.subject.user", "must be an email address")]
        if self.group is not None and not _GROUP.fullmatch(self.group):
            return [("spec.subject.group", "must be 1-256 characters without control characters")]
        return []

    @property
    def key(self) -> str:
        """How grants are filed for these people: `user:<email>` or `group:<name>`."""
        return f"user:{self.user}" if self.user is not None else f"group:{self.group}"


class SubscriptionSpec(SpecModel):
    """A grant from one client, or to people (`subject`), of one server's tools (the seed's
    `subscriptions` row)."""

    client: Name | None = None
    subject: SubscriptionSubject | None = None
    server: Name
    environment: Name | None = None
    scope_type: Literal["all", "selective"] = "selective"
    scope_tools: list[ToolName] = Field(default_factory=list)
    rate_limit_rps: int | None = Field(default=None, ge=1, le=1_000_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    quota_per_day: int | None = Field(default=None, ge=0)
    quota_per_month: int | None = Field(default=None, ge=0)
    constraints: BoundedObject = Field(default_factory=dict)
    starts_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    status: SubscriptionStatus | None = None
    requires_approval: bool = False

    @property
    def grantee(self) -> str:
        """Whom the grants go to: the client's name, or the subject's key (`user:…`, `group:…`)."""
        if self.subject is not None:
            return self.subject.key
        return self.client or ""

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if (self.client is None) == (self.subject is None):
            found.append(("spec", "set exactly one of client or subject"))
        elif self.subject is not None:
            found += self.subject.problems()
        if self.scope_type == "selective" and not self.scope_tools:
            found.append(("spec.scopeTools", "list at least one tool when scopeType is selective"))
        if self.scope_type == "all" and self.scope_tools:
            found.append(("spec.scopeTools", "must be empty when scopeType is all"))
        if len(set(self.scope_tools)) != len(self.scope_tools):
            found.append(("spec.scopeTools", "lists a tool more than once"))
        if self.burst is not None and self.rate_limit_rps is None:
            found.append(("spec.burst", "needs spec.rateLimitRps"))
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            found.append(("spec.expiresAt", "must be after spec.startsAt"))
        return found + _tool_rate_problems(self.constraints.get("tools"))

    def tool_rates(self) -> dict[str, tuple[float, int | None]]:
        """`constraints.tools.<tool>.rps` (and optional `.burst`) per tool, when valid."""
        tools = self.constraints.get("tools")
        if not isinstance(tools, dict) or _tool_rate_problems(tools):
            return {}
        return {
            name: (float(limit["rps"]), limit.get("burst"))
            for name, limit in tools.items()
            if "rps" in limit
        }


def _tool_rate_problems(tools: Any) -> list[Problem]:
    """Per-tool limits in `constraints.tools`: `{<tool>: {rps: >0, burst: int >= 1, ...}}`
    (other keys are left to policy)."""
    if tools is None:
        return []
    if not isinstance(tools, dict):
        return [("spec.constraints.tools", "must be a map of tool name to {rps, burst}")]
    found: list[Problem] = []
    for name, limit in tools.items():
        where = f"spec.constraints.tools.{name}"
        if not isinstance(limit, dict):
            found.append((where, "must be a map such as {rps: 2, burst: 4}"))
            continue
        rps, burst = limit.get("rps"), limit.get("burst")
        if rps is not None and (
            isinstance(rps, bool) or not isinstance(rps, int | float) or rps <= 0
        ):
            found.append((f"{where}.rps", "must be a number greater than zero"))
        if burst is not None and (
            isinstance(burst, bool) or not isinstance(burst, int) or burst < 1
        ):
            found.append((f"{where}.burst", "must be an integer of at least 1"))
    return found


class EnvironmentSpec(SpecModel):
    """Defaults for the subscriptions of one environment (dev, staging, prod, ...)."""

    display_name: str | None = Field(default=None, max_length=200)
    allow_auto_approval: bool = False

    def problems(self) -> list[Problem]:
        return []


class PolicySelector(SpecModel):
    """Where a `Policy` applies: every list optional, an empty list matches any, lists AND-ed."""

    servers: list[Name] = Field(default_factory=list)
    virtual_servers: list[Name] = Field(default_factory=list)
    environments: list[Name] = Field(default_factory=list)


class PolicySpec(SpecModel):
    """Policy packs (`core`, `pci_dss`, ...) enabled where `selector` matches, with data merged
    over each pack's defaults."""

    packs: list[Identifier] = Field(min_length=1, max_length=_PACKS_MAX)
    selector: PolicySelector = Field(default_factory=PolicySelector)
    data: dict[Identifier, BoundedObject] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=500)

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if len(set(self.packs)) != len(self.packs):
            found.append(("spec.packs", "lists a pack more than once"))
        found += [
            (f"spec.data.{pack}", f"pack {pack!r} is not in spec.packs")
            for pack in self.data
            if pack not in self.packs
        ]
        for field, names in (
            ("servers", self.selector.servers),
            ("virtualServers", self.selector.virtual_servers),
            ("environments", self.selector.environments),
        ):
            if len(set(names)) != len(names):
                found.append((f"spec.selector.{field}", "lists a name more than once"))
        return found


class _Document(SpecModel):
    api_version: Literal["giru.ai/v1alpha1"]
    metadata: Metadata


class MCPServerDocument(_Document):
    kind: Literal["MCPServer"]
    spec: MCPServerSpec


class VirtualServerDocument(_Document):
    kind: Literal["VirtualServer"]
    spec: VirtualServerSpec


class ClientDocument(_Document):
    kind: Literal["Client"]
    spec: ClientSpec


class SubscriptionDocument(_Document):
    kind: Literal["Subscription"]
    spec: SubscriptionSpec


class EnvironmentDocument(_Document):
    kind: Literal["Environment"]
    spec: EnvironmentSpec


class PolicyDocument(_Document):
    kind: Literal["Policy"]
    spec: PolicySpec


class IdentityProviderDocument(_Document):
    kind: Literal["IdentityProvider"]
    spec: IdentityProviderSpec


Document = (
    MCPServerDocument
    | VirtualServerDocument
    | ClientDocument
    | SubscriptionDocument
    | EnvironmentDocument
    | PolicyDocument
    | IdentityProviderDocument
)
KINDS: dict[str, type[Document]] = {
    "MCPServer": MCPServerDocument,
    "VirtualServer": VirtualServerDocument,
    "Client": ClientDocument,
    "Subscription": SubscriptionDocument,
    "Environment": EnvironmentDocument,
    "Policy": PolicyDocument,
    "IdentityProvider": IdentityProviderDocument,
}
"""Every manifest kind and its document model, in the order they are applied."""
