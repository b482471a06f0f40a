"""The REST API's request and response bodies (camelCase on the wire).

Request bodies of the five manifest kinds reuse the manifest spec models, so the OpenAPI document
shows the same schema `giru validate` enforces and unknown fields are refused the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Role
from giru.manifests.documents import (
    API_VERSION,
    ClientDocument,
    ClientSpec,
    EnvironmentDocument,
    EnvironmentSpec,
    IdentityProviderDocument,
    IdentityProviderSpec,
    MCPServerDocument,
    MCPServerSpec,
    Metadata,
    PolicyDocument,
    PolicySpec,
    SubscriptionDocument,
    SubscriptionSpec,
    VirtualServerDocument,
    VirtualServerSpec,
)

__all__ = [
    "NAME_PATTERN",
    "AdminKeyCreate",
    "AdminKeyCreated",
    "AdminKeyList",
    "AdminKeyOut",
    "ApplyOut",
    "ApplyRequest",
    "ApplyResultOut",
    "ChangeList",
    "ChangeOut",
    "Client",
    "ClientCreated",
    "ClientInput",
    "ClientList",
    "ClientToolOut",
    "ClientToolsOut",
    "Environment",
    "EnvironmentInput",
    "EnvironmentList",
    "IdentityProvider",
    "IdentityProviderInput",
    "IdentityProviderList",
    "KeyCreated",
    "KeyList",
    "KeyOut",
    "MCPServer",
    "MCPServerInput",
    "MCPServerList",
    "Manifest",
    "ObjectMeta",
    "Policy",
    "PolicyInput",
    "PolicyList",
    "ResourceInput",
    "ResourceOut",
    "Subscription",
    "SubscriptionInput",
    "SubscriptionList",
    "SyncOut",
    "ToolList",
    "ToolOut",
    "TransitionRequest",
    "VirtualServer",
    "VirtualServerInput",
    "VirtualServerList",
    "WhoAmI",
]

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SpecT = TypeVar("SpecT", bound=BaseModel)


class _Input(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, strict=True, populate_by_name=False
    )

    api_version: Literal["giru.ai/v1alpha1"] | None = None
    metadata: Metadata


class MCPServerInput(_Input):
    kind: Literal["MCPServer"] | None = None
    spec: MCPServerSpec


class VirtualServerInput(_Input):
    kind: Literal["VirtualServer"] | None = None
    spec: VirtualServerSpec


class ClientInput(_Input):
    kind: Literal["Client"] | None = None
    spec: ClientSpec


class SubscriptionInput(_Input):
    kind: Literal["Subscription"] | None = None
    spec: SubscriptionSpec


class EnvironmentInput(_Input):
    kind: Literal["Environment"] | None = None
    spec: EnvironmentSpec


class PolicyInput(_Input):
    kind: Literal["Policy"] | None = None
    spec: PolicySpec


class IdentityProviderInput(_Input):
    kind: Literal["IdentityProvider"] | None = None
    spec: IdentityProviderSpec


ResourceInput = (
    MCPServerInput
    | VirtualServerInput
    | ClientInput
    | SubscriptionInput
    | EnvironmentInput
    | PolicyInput
    | IdentityProviderInput
)


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class ObjectMeta(_Out):
    name: str
    uid: str
    resource_version: str = Field(description="the version; `ETag` is this value quoted")
    created_at: datetime
    updated_at: datetime
    managed_by: str = Field(description="`api`, `file:<path>` (read-only here) or `system`")


class ResourceOut(_Out, Generic[SpecT]):
    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: dict[str, Any] = Field(description="read-only, maintained by Giru")


NextCursor = Annotated[
    str | None, Field(description="pass as `cursor` for the next page; null: the last page")
]


# Named subclasses, so the OpenAPI document calls them `MCPServer`, `MCPServerList`, ...
class MCPServer(ResourceOut[MCPServerSpec]):
    pass


class MCPServerList(_Out):
    items: list[MCPServer]
    next_cursor: NextCursor


class VirtualServer(ResourceOut[VirtualServerSpec]):
    pass


class VirtualServerList(_Out):
    items: list[VirtualServer]
    next_cursor: NextCursor


class Client(ResourceOut[ClientSpec]):
    pass


class ClientList(_Out):
    items: list[Client]
    next_cursor: NextCursor


class ClientCreated(Client):
    api_key: str | None = Field(
        description="the generated key, shown only in this response (null when the spec names one)"
    )


class Subscription(ResourceOut[SubscriptionSpec]):
    pass


class SubscriptionList(_Out):
    items: list[Subscription]
    next_cursor: NextCursor


class Environment(ResourceOut[EnvironmentSpec]):
    pass


class EnvironmentList(_Out):
    items: list[Environment]
    next_cursor: NextCursor


class Policy(ResourceOut[PolicySpec]):
    pass


class PolicyList(_Out):
    items: list[Policy]
    next_cursor: NextCursor


class IdentityProvider(ResourceOut[IdentityProviderSpec]):
    pass


class IdentityProviderList(_Out):
    items: list[IdentityProvider]
    next_cursor: NextCursor


class KeyOut(_Out):
    id: str
    prefix: str | None = Field(description="the first characters of a generated key")
    source: Literal["spec", "generated"]
    created_at: datetime


class KeyCreated(KeyOut):
    api_key: str = Field(description="the new key, shown only in this response")


class KeyList(_Out):
    items: list[KeyOut]


class AdminKeyCreate(_Request):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=40)]
    role: Role


class TransitionRequest(_Request):
    """The optional body of a subscription's approve, reject, suspend or resume."""

    reason: Annotated[
        str | None,
        Field(min_length=1, max_length=500, description="why, kept in the change log"),
    ] = None


class AdminKeyOut(_Out):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class AdminKeyCreated(AdminKeyOut):
    api_key: str = Field(description="the new admin key, shown only in this response")


class AdminKeyList(_Out):
    items: list[AdminKeyOut]


class WhoAmI(_Out):
    name: str
    role: Role


class ChangeOut(_Out):
    id: str
    at: datetime
    actor: str = Field(description="the admin key name, `file:<path>` or `system`")
    action: str
    kind: str
    name: str
    version: int | None
    detail: dict[str, Any]


class ChangeList(_Out):
    items: list[ChangeOut]
    next_cursor: NextCursor


class ToolOut(_Out):
    server: str
    name: str
    description: str | None
    input_schema: dict[str, Any]
    tags: list[str]
    category: str | None
    definition_hash: str
    available: bool
    first_seen_at: datetime
    last_synced_at: datetime


class ToolList(_Out):
    items: list[ToolOut]
    next_cursor: NextCursor


class SyncOut(_Out):
    server: str
    tools: int = Field(description="tools available now")
    added: int
    changed: int
    removed: int


class ToolProviderOut(_Out):
    server: str
    subscription: str | None = Field(description="null: a standing grant of the client's spec")


class ToolQuotaOut(_Out):
    per_day: int | None
    per_month: int | None
    used_today: int | None = Field(description="admitted calls today (null without a quota)")
    used_this_month: int | None = Field(description="admitted calls this month")
    remaining_today: int | None = Field(description="perDay - usedToday (null: no daily quota)")
    remaining_this_month: int | None = Field(description="perMonth - usedThisMonth")


class ClientToolOut(_Out):
    name: str = Field(description="the name the client calls (`server__tool`)")
    server: str
    tool: str
    description: str | None
    input_schema: dict[str, Any]
    provided_by: ToolProviderOut
    quota: ToolQuotaOut


class ClientToolsOut(_Out):
    tools: list[ClientToolOut]


Manifest = Annotated[
    MCPServerDocument
    | VirtualServerDocument
    | ClientDocument
    | SubscriptionDocument
    | EnvironmentDocument
    | PolicyDocument
    | IdentityProviderDocument,
    Field(discriminator="kind"),
]


class ApplyRequest(_Request):
    documents: list[Manifest] = Field(max_length=1000)
    prune: bool = Field(
        default=False, description="delete objects created through the API and not listed here"
    )


class ApplyResultOut(_Out):
    kind: str
    name: str
    action: Literal["created", "configured", "unchanged", "deleted"]
    api_key: str | None = Field(default=None, description="a generated client key, shown once")


class ApplyOut(_Out):
    results: list[ApplyResultOut]
