"""The tables of the control plane (SQLAlchemy 2 declarative); migrations mirror them exactly.

Every row has a uuid string `id`, its `tenant_id`, `created_at` and `updated_at`; the rows of
manifest kinds also carry `name`, `version` (optimistic concurrency, the ETag) and `managed_by`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "DEFAULT_TENANT",
    "AdminKeyRow",
    "AuditRow",
    "Base",
    "ChangeRow",
    "ClientKeyRow",
    "ClientRow",
    "EnvironmentRow",
    "MCPServerRow",
    "MCPToolRow",
    "OAuthClientRow",
    "OAuthCodeRow",
    "OAuthFamilyRow",
    "OAuthRefreshTokenRow",
    "OAuthSigningKeyRow",
    "PersonRevocationRow",
    "PolicyRow",
    "ResourceRow",
    "RevisionRow",
    "SecretRow",
    "SubscriptionRow",
    "TenantRow",
    "ToolPinRow",
    "ToolReviewRow",
    "ToolSurfaceRow",
    "UTCDateTime",
    "UpstreamBreakerRow",
    "UsageRow",
    "VirtualServerRow",
    "new_id",
]

DEFAULT_TENANT = "default"
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_NAME = 100
_CASCADE = "CASCADE"
_RESTRICT = "RESTRICT"


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps the UTC wall time without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# sort_order: shared columns first (id, tenant, name) and last (version, timestamps).
class _Row:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id, sort_order=-3)
    created_at: Mapped[datetime] = mapped_column(sort_order=3)
    updated_at: Mapped[datetime] = mapped_column(sort_order=3)


class _Tenanted(_Row):
    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id"), sort_order=-2)


class ResourceRow(_Tenanted):
    """Columns every manifest kind shares."""

    name: Mapped[str] = mapped_column(String(_NAME), sort_order=-1)
    version: Mapped[int] = mapped_column(Integer, sort_order=2)
    managed_by: Mapped[str] = mapped_column(Text, sort_order=2)


class TenantRow(_Row, Base):
    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(_NAME))
    timezone: Mapped[str] = mapped_column(
        String(64), default="UTC", server_default="UTC", sort_order=1
    )
    """IANA time zone of the tenant's calendar (daily usage, quota periods)."""


class RevisionRow(_Tenanted, Base):
    """One row per tenant, bumped by every write transaction and locked by it first."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    value: Mapped[int] = mapped_column(Integer)


class MCPServerRow(ResourceRow, Base):
    __tablename__ = "mcp_servers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("health IN ('healthy', 'unhealthy', 'unknown')", name="health"),
    )

    transport: Mapped[str] = mapped_column(String(32))
    endpoint_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]
    health: Mapped[str] = mapped_column(String(16))
    health_error: Mapped[str | None] = mapped_column(Text)
    last_health_check: Mapped[datetime | None]
    protocol_version: Mapped[str | None] = mapped_column(String(32))
    server_capabilities: Mapped[dict[str, Any] | None]


class MCPToolRow(_Tenanted, Base):
    __tablename__ = "mcp_tools"
    __table_args__ = (UniqueConstraint("server_id", "name"),)

    server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_CASCADE)
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    input_schema: Mapped[dict[str, Any]]
    tags: Mapped[list[Any]]
    category: Mapped[str | None] = mapped_column(String(_NAME))
    definition: Mapped[dict[str, Any]]
    definition_hash: Mapped[str] = mapped_column(String(64))
    available: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime]
    last_synced_at: Mapped[datetime]


class VirtualServerRow(ResourceRow, Base):
    __tablename__ = "virtual_servers"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    config: Mapped[dict[str, Any]]


class ClientRow(ResourceRow, Base):
    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]


class ClientKeyRow(_Tenanted, Base):
    __tablename__ = "client_keys"
    __table_args__ = (CheckConstraint("source IN ('spec', 'generated')", name="source"),)

    client_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clients.id", ondelete=_CASCADE), index=True
    )
    hash: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None]

    client: Mapped[ClientRow] = relationship(lazy="raise")


class EnvironmentRow(ResourceRow, Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    config: Mapped[dict[str, Any]]


class PolicyRow(ResourceRow, Base):
    """A `Policy`: the whole canonical spec (packs, selector, data) is `config`."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    config: Mapped[dict[str, Any]]


class IdentityProviderRow(ResourceRow, Base):
    """An `IdentityProvider`: the whole canonical spec is `config` (its `clientSecret` is a
    `${VAR}` reference, resolved from the environment of the process that uses it)."""

    __tablename__ = "identity_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    config: Mapped[dict[str, Any]]


class SubscriptionRow(ResourceRow, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("scope_type IN ('all', 'selective')", name="scope_type"),
        CheckConstraint(
            "status IN ('pending', 'active', 'suspended', 'expired', 'rejected')", name="status"
        ),
    )

    client_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("clients.id", ondelete=_RESTRICT), index=True
    )
    subject_user: Mapped[str | None] = mapped_column(Text)
    """The person granted (`spec.subject.user`), when there is no client."""
    subject_group: Mapped[str | None] = mapped_column(Text)
    """The IdP group granted (`spec.subject.group`), when there is no client."""
    mcp_server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_RESTRICT), index=True
    )
    environment_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("environments.id", ondelete=_RESTRICT), index=True
    )
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_tools: Mapped[list[Any]]
    rate_limit_rps: Mapped[int | None]
    burst: Mapped[int | None]
    quota_per_day: Mapped[int | None]
    quota_per_month: Mapped[int | None]
    constraints: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    client: Mapped[ClientRow | None] = relationship(lazy="raise")
    server: Mapped[MCPServerRow] = relationship(lazy="raise")
    environment: Mapped[EnvironmentRow | None] = relationship(lazy="raise")


class AdminKeyRow(_Tenanted, Base):
    __tablename__ = "admin_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="role"),
    )

    name: Mapped[str] = mapped_column(String(_NAME))
    role: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]


class ChangeRow(_Tenanted, Base):
    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_tenant_id_at", "tenant_id", "at"),)

    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(_NAME))
    version: Mapped[int | None]
    detail: Mapped[dict[str, Any]]


class UsageRow(_Tenanted, Base):
    """One metered tools/call (`giru.metering`), inserted idempotently by its UUIDv7 `event_id`;
    `created_at` is when it was stored. Strings are unbounded on purpose: a value longer than
    expected must never block the drain."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_usage_records_client_at", "client", "at"),
        Index("ix_usage_records_subscription_at", "subscription", "at"),
        Index("ix_usage_records_at", "at"),
        Index("ix_usage_records_person_at", "person", "at"),
    )

    event_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime]
    node: Mapped[str] = mapped_column(Text)
    subscription: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str] = mapped_column(Text)
    server: Mapped[str] = mapped_column(Text)
    tool: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[int | None] = mapped_column(Integer)
    bytes_in: Mapped[int] = mapped_column(BigInteger)
    bytes_out: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float | None] = mapped_column(Numeric(18, 6, asdecimal=False))
    person: Mapped[str | None] = mapped_column(Text)
    """The person signed in over OAuth (email, else subject); null for API-key clients."""
    agent: Mapped[str | None] = mapped_column(Text)
    """The OAuth client acting for the person (`client` is `user:<email>` then)."""
    trace_id: Mapped[str | None] = mapped_column(String(32))
    """The request's OpenTelemetry trace id (32 hex digits) when tracing was on."""


class AuditRow(_Tenanted, Base):
    """One audit record (`giru.audit`), in its node's hash chain; append-only (the migration
    adds triggers refusing UPDATE and DELETE): `updated_at` is `created_at`, when it was stored.
    A chain is per node, whatever the tenant. Strings are unbounded on purpose: a value longer
    than expected must never block the drain."""

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("event_id"),
        UniqueConstraint("node", "seq"),
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_actor_at", "actor", "at"),
        Index("ix_audit_records_outcome_at", "outcome", "at"),
        Index("ix_audit_records_server_at", "server", "at"),
    )

    node: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    server: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[Any]]
    policy_revision: Mapped[str | None] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SecretRow(_Tenanted, Base):
    """One secret (`giru.credentials`): its metadata, and never its value in clear.

    The `database` backend keeps the value sealed here (`key_id`, `wrapped_key`, `ciphertext`:
    AES-256-GCM envelope encryption); the `vault` backend keeps it in Vault and only the path
    (`reference`) here.
    """

    __tablename__ = "secrets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("backend IN ('database', 'vault')", name="backend"),
    )

    name: Mapped[str] = mapped_column(String(_NAME))
    backend: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    entries: Mapped[list[Any]]
    """The names of the secret's entries (`value`, ...), not their values."""
    size: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(16), index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_by: Mapped[str] = mapped_column(Text)


class OAuthClientRow(_Tenanted, Base):
    """An OAuth client registered with Giru's authorization server (RFC 7591). `expires_at`:
    an unused registration is forgotten then; cleared by its first authorization."""

    __tablename__ = "oauth_clients"
    __table_args__ = (
        UniqueConstraint("client_id"),
        Index("ix_oauth_clients_registered_ip_created_at", "registered_ip", "created_at"),
    )

    client_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    redirect_uris: Mapped[list[Any]]
    auth_method: Mapped[str] = mapped_column(String(32))
    grant_types: Mapped[list[Any]]
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    client_metadata: Mapped[dict[str, Any]]
    registered_ip: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]


class OAuthCodeRow(_Tenanted, Base):
    """An authorization code, kept as its SHA-256 only; `flow_id` makes each consent single-use,
    `family_id` names the refresh-token family it was exchanged for (revoked on a replay)."""

    __tablename__ = "oauth_codes"
    __table_args__ = (UniqueConstraint("code_hash"), UniqueConstraint("flow_id"))

    code_hash: Mapped[str] = mapped_column(String(64))
    flow_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    person: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    family_id: Mapped[str | None] = mapped_column(String(36))
    sealed_idp_refresh_token: Mapped[str | None] = mapped_column(Text)
    """The IdP's refresh token of the sign-in, sealed with the identity key-encryption key."""


class OAuthFamilyRow(_Tenanted, Base):
    """A refresh-token family: every token rotated from one authorization code. Reuse of a
    rotated token revokes the whole family."""

    __tablename__ = "oauth_refresh_families"
    __table_args__ = (Index("ix_oauth_refresh_families_subject", "subject"),)

    client_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    resource: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    person: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    sealed_idp_refresh_token: Mapped[str | None] = mapped_column(Text)
    """The IdP's refresh token, sealed; each refresh here refreshes there first."""


class OAuthRefreshTokenRow(_Tenanted, Base):
    """One refresh token of a family, as its SHA-256; `rotated_at` set once it was used."""

    __tablename__ = "oauth_refresh_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    token_hash: Mapped[str] = mapped_column(String(64))
    family_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("oauth_refresh_families.id", ondelete=_CASCADE), index=True
    )
    rotated_at: Mapped[datetime | None]


class OAuthSigningKeyRow(_Tenanted, Base):
    """An ES256 signing key; the private key only sealed with the key-encryption key.
    `status`: current (signs), previous (still published), retired."""

    __tablename__ = "oauth_signing_keys"
    __table_args__ = (
        UniqueConstraint("kid"),
        CheckConstraint("status IN ('current', 'previous', 'retired')", name="status"),
    )

    kid: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    sealed_private_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))


class PersonRevocationRow(_Tenanted, Base):
    """A person whose access an administrator revoked: tokens issued before `not_before` are
    refused (`giru.identity.revocations`). `label` is the email (else subject), lowercase."""

    __tablename__ = "person_revocations"
    __table_args__ = (UniqueConstraint("tenant_id", "label"),)

    label: Mapped[str] = mapped_column(String(320))
    not_before: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(Text)


class ToolSurfaceRow(_Tenanted, Base):
    """A server whose first tool surface Giru has seen (pinned on first use, or held)."""

    __tablename__ = "tool_surfaces"
    __table_args__ = (UniqueConstraint("server_id"),)

    server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_CASCADE)
    )
    first_seen_at: Mapped[datetime]


class ToolPinRow(_Tenanted, Base):
    """A tool's approved surface (`giru.trust`): only a definition with this hash is served.
    `definition` is None when it was larger than the store keeps (pinned by hash alone)."""

    __tablename__ = "tool_pins"
    __table_args__ = (UniqueConstraint("server_id", "tool"),)

    server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_CASCADE)
    )
    tool: Mapped[str] = mapped_column(String(200))
    definition_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any] | None]
    size: Mapped[int] = mapped_column(Integer)
    approved_by: Mapped[str] = mapped_column(Text)
    approved_at: Mapped[datetime]


class ToolReviewRow(_Tenanted, Base):
    """A tool's one review entry: the latest change a server offered, pending or rejected;
    `history` keeps the last few offers (hash, time)."""

    __tablename__ = "tool_reviews"
    __table_args__ = (
        UniqueConstraint("server_id", "tool"),
        CheckConstraint("state IN ('pending', 'rejected')", name="state"),
        CheckConstraint("change IN ('added', 'changed', 'removed')", name="change"),
    )

    server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_CASCADE)
    )
    tool: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))
    definition_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any] | None]
    size: Mapped[int] = mapped_column(Integer)
    findings: Mapped[list[Any]]
    history: Mapped[list[Any]]
    offers: Mapped[int] = mapped_column(Integer)
    first_detected_at: Mapped[datetime]
    detected_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]


class UpstreamBreakerRow(_Tenanted, Base):
    """A gateway worker's (`node`) circuit breaker for one server, as the worker last reported
    it: its state since when, until when an open one refuses calls, the last failure's code."""

    __tablename__ = "upstream_breakers"
    __table_args__ = (
        UniqueConstraint("server_id", "node"),
        CheckConstraint("state IN ('open', 'half-open', 'closed')", name="state"),
    )

    server_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("mcp_servers.id", ondelete=_CASCADE)
    )
    node: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
    until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(100))
