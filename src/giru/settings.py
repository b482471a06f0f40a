"""Bootstrap settings: environment (`GIRU_*`, nested with `__`) and CLI flags; built once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "SECRETS_DIR",
    "ApprovalSettings",
    "AuditSettings",
    "AuthSettings",
    "CatalogSettings",
    "EgressSettings",
    "HttpSettings",
    "IdentitySettings",
    "LimitsSettings",
    "MeteringSettings",
    "OtelSettings",
    "PolicySettings",
    "SecretsSettings",
    "SessionSettings",
    "Settings",
    "VaultSettings",
    "XdsSettings",
]


class HttpSettings(BaseModel):
    """Limits and checks on the client-facing HTTP surface (BAD-INPUT 3.1)."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=64, ge=8, le=512)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed besides the listener's own; '*' allows any.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values accepted besides localhost/127.0.0.1/[::1] on loopback.",
    )
    page_size: int = Field(default=100, ge=1, le=1000)
    header_timeout_s: float = Field(
        default=5.0, gt=0, description="a request's headers must arrive within this (H8)"
    )
    max_headers: int = Field(
        default=100, ge=16, le=10_000, description="header lines per request; more: 431"
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=4096,
        le=1024 * 1024,
        description="request line and headers, in bytes; more: 431",
    )


class AuthSettings(BaseModel):
    """What a failed authentication costs its source (docs/security/limits.md)."""

    failures_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="failed authentications per source address per minute (and in a burst); "
        "more: 429 with Retry-After, before any key is checked",
    )
    tracked_sources: int = Field(
        default=10_000, ge=100, description="source addresses remembered for that limit"
    )


class SessionSettings(BaseModel):
    idle_timeout_s: float = Field(default=1800.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=1)
    replay_events: int = Field(default=256, ge=0, description="events kept per stream to resume")
    sse_retry_ms: int = Field(default=1000, ge=0)


class CatalogSettings(BaseModel):
    """How often upstream catalogs are re-synced and upstream health is checked."""

    sync_interval_s: float = Field(default=300.0, gt=0)
    health_interval_s: float = Field(default=15.0, gt=0)
    health_timeout_s: float = Field(default=5.0, gt=0)
    unhealthy_after: int = Field(
        default=3, ge=1, description="failed checks in a row before a server is unhealthy"
    )


class EgressSettings(BaseModel):
    """Where upstream connections may go (docs/security/ssrf.md). Link-local, metadata,
    unspecified, multicast and reserved addresses are always refused."""

    allow_loopback: bool = Field(
        default=True, description="upstreams on 127.0.0.0/8, ::1 and localhost (development)"
    )
    allow_private: bool = Field(
        default=True,
        description="upstreams on private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, ...)",
    )


class LimitsSettings(BaseModel):
    """Rate limits and quotas (docs/operations.md)."""

    timezone: str = Field(default="UTC", description="calendar for daily/monthly quotas")
    redis_timeout_s: float = Field(
        default=0.05, gt=0, description="the longest an admission waits on Redis, connect included"
    )
    cool_down_s: float = Field(
        default=1.0, ge=0, description="after a Redis failure, use the local limiter this long"
    )
    quota_fallback: Literal["local", "deny"] = "local"
    reconcile_s: float = Field(default=60.0, gt=0)
    local_max_keys: int = Field(default=100_000, ge=100)


class MeteringSettings(BaseModel):
    """Usage records: a durable local spool drained into the store in batches."""

    spool_dir: Path | None = Field(
        default=None, description="default: giru-spool/ beside a SQLite store, else ./giru-spool"
    )
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    group_commit_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="0: commit at once (appends made during a commit share the next one); "
        "more: the first append after a quiet spell waits this long for company",
    )
    batch_size: int = Field(
        default=100, ge=1, le=10_000, description="records per insert; the drain yields between"
    )


class AuditSettings(BaseModel):
    """The audit log: a durable local spool drained into the store's hash-chained table."""

    spool_dir: Path | None = Field(
        default=None, description="default: giru-audit-spool/ beside the usage spool"
    )
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    verify_interval_s: float = Field(
        default=3600.0,
        ge=0,
        description="verify every hash chain this often (metric giru_audit_chain_ok); 0: never",
    )


class ApprovalSettings(BaseModel):
    """A person approves the calls policy holds (tools tagged destructive; docs/approvals.md)."""

    elicitation_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=110,
        description="how long the caller's client may take to answer the yes/no form",
    )
    timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="how long a call waits in the admin queue (`giru approvals`) for a decision",
    )
    holder_lease_s: float = Field(
        default=15.0,
        ge=1,
        le=300,
        description="with Redis, a queued call whose worker has not renewed its hold for this "
        "long (crashed, restarted) is listed as expired rather than pending",
    )


class OtelSettings(BaseModel):
    """Tracing with OpenTelemetry (docs/observability.md). The standard `OTEL_*` variables
    configure it (endpoint, protocol, sampler, service name, export queue); these cover the rest."""

    enabled: bool = Field(
        default=False,
        description="trace even when no OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set (to the "
        "OTLP default address); setting one of those turns tracing on by itself",
    )
    trust_client_context: bool = Field(
        default=True,
        description="continue the trace a client's traceparent names (false: every request "
        "starts a trace of its own, sampled by Giru's sampler alone)",
    )
    trace_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]*\{trace_id\}[^\s]*$",
        description="a trace's page in a tracing UI, `{trace_id}` standing for the trace id "
        "(http://jaeger:16686/trace/{trace_id}): the audit API's traceUrl and the UI's link",
    )


class PolicySettings(BaseModel):
    """OPA decisions on every MCP call (docs/policies/): the engine and the Rego it loads."""

    enabled: bool = Field(default=True, description="decide every call with OPA (fail closed)")
    url: str | None = Field(
        default=None,
        description="an external OPA (http://host:8181); default: a managed OPA child process",
    )
    opa_binary: Path | None = Field(
        default=None,
        description="the opa executable; default: <repo>/.tools/bin/opa, else `opa` on PATH",
    )
    dirs: list[Path] = Field(
        default_factory=list, description="user policy directories, loaded beside policies/"
    )
    timeout_ms: int = Field(
        default=250, ge=1, le=60_000, description="a decision not made in time is a deny"
    )
    evaluator: Literal["opa", "wasm"] = Field(
        default="opa",
        description="what decides each call: `opa` asks OPA over HTTP; `wasm` runs the bundle "
        "compiled to WebAssembly in process (docs/policies/evaluator.md)",
    )
    bundle_token: SecretStr | None = Field(
        default=None,
        description="bearer token an external OPA presents to pull /api/v1/policy/bundle.tar.gz",
    )


class VaultSettings(BaseModel):
    """HashiCorp Vault KV v2 as the secret backend (docs/credentials.md)."""

    url: str | None = Field(default=None, description="Vault's address, e.g. https://vault:8200")
    auth: Literal["token", "approle", "kubernetes"] = Field(
        default="token", description="how Giru logs in to Vault"
    )
    token: SecretStr | None = Field(default=None, description="a Vault token (auth: token)")
    role_id: str | None = Field(default=None, description="AppRole role id (auth: approle)")
    secret_id: SecretStr | None = Field(
        default=None, description="AppRole secret id (auth: approle)"
    )
    kubernetes_role: str | None = Field(
        default=None, description="the Vault role to log in as (auth: kubernetes)"
    )
    kubernetes_token_file: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        description="the service account token presented to Vault (auth: kubernetes)",
    )
    auth_mount: str | None = Field(
        default=None, description="where the auth method is mounted; default: its name"
    )
    mount: str = Field(default="secret", description="the KV v2 secrets engine's mount path")
    namespace: str | None = Field(default=None, description="X-Vault-Namespace (Enterprise)")
    secret_path: str = Field(
        default="giru/{environment}/secrets/{name}",
        description="where a named secret lives under the mount",
    )
    connection_path: str = Field(
        default="giru/{environment}/mcp/{server}/{subject}",
        description="where a connection's tokens live under the mount",
    )
    ca_file: Path | None = Field(default=None, description="CA bundle for Vault's TLS")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="per Vault request")


class SecretsSettings(BaseModel):
    """Upstream credentials: where secret values live and the key that seals them."""

    backend: Literal["database", "vault"] = Field(
        default="database", description="database: encrypted in the store; vault: Vault KV v2"
    )
    key: SecretStr | None = Field(
        default=None,
        description="the key-encryption key: 32 bytes as 64 hex digits or base64; default: a "
        "key file beside a SQLite store (required with PostgreSQL for the database backend)",
    )
    key_file: Path | None = Field(
        default=None, description="read the key-encryption key(s) from this file instead"
    )
    previous_keys: list[SecretStr] = Field(
        default_factory=list,
        description="older key-encryption keys, still read during a rotation",
    )
    environment: str = Field(
        default="default",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="this deployment's name in Vault paths ({environment})",
    )
    cache_ttl_s: float = Field(
        default=300.0, gt=0, description="how long a secret read for calls is used before rereading"
    )
    max_bytes: int = Field(
        default=64 * 1024, ge=1024, le=1024 * 1024, description="the largest secret accepted"
    )
    vault: VaultSettings = Field(default_factory=VaultSettings)


class XdsSettings(BaseModel):
    """Envoy at the edge (docs/deployment/local-stack.md): this process serves Envoy its config
    over ADS when `listen` is set; gateway workers serve ext_authz when `authz_listen` is set."""

    listen: str | None = Field(
        default=None, description="ADS gRPC address (the control plane's; 127.0.0.1:19000)"
    )
    workers: list[str] = Field(
        default_factory=list,
        description="gateway workers as NAME=HOST:PORT; NAME must equal that worker's worker_name",
    )
    authz: list[str] = Field(
        default_factory=list, description="ext_authz gRPC services (HOST:PORT) Envoy asks"
    )
    edge_listen: str = Field(default="127.0.0.1:8080", description="Envoy's plain HTTP listener")
    tls_listen: str | None = Field(
        default=None, description="Envoy's HTTPS listener (127.0.0.1:8443); needs tls_cert/key"
    )
    tls_cert: Path | None = Field(default=None, description="PEM chain served over SDS")
    tls_key: Path | None = Field(default=None, description="PEM key served over SDS")
    control: str | None = Field(
        default=None, description="where Envoy sends /api and /ui; default: this process"
    )
    authz_listen: str | None = Field(
        default=None, description="serve Envoy's ext_authz gRPC here (a gateway worker)"
    )
    edge_check: Literal["keys", "off"] = Field(
        default="keys",
        description="without ext_authz (`authz` empty): `keys` has Envoy itself refuse a missing "
        "credential or an API key whose identifier is not a live key (giru.xds.keycheck); "
        "`off` checks nothing at the edge. Workers authenticate every call either way",
    )
    access_log: str = Field(default="/dev/stdout", description="Envoy's JSON access log file")


class IdentitySettings(BaseModel):
    """How Giru checks OAuth access tokens, and Giru as the OAuth 2.1 authorization server MCP
    clients see (docs/identity.md)."""

    leeway_s: float = Field(
        default=30.0, ge=0, le=300, description="clock skew allowed on exp, nbf and iat"
    )
    jwks_cache_s: float = Field(
        default=3600.0, gt=0, description="how long a fetched JWKS is used before a refetch"
    )
    jwks_refetch_min_s: float = Field(
        default=30.0,
        ge=0,
        description="an unknown kid refetches the JWKS at most once per this many seconds",
    )
    http_timeout_s: float = Field(
        default=5.0, gt=0, description="discovery and JWKS requests to an identity provider"
    )
    token_cache_size: int = Field(
        default=10_000, ge=0, description="verified tokens kept (by hash) until they expire"
    )
    introspection_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="an opaque token's introspection request (RFC 7662); slower: refused, 503",
    )
    introspection_cache_max_s: float = Field(
        default=60.0,
        ge=0,
        description="an active introspection answer is kept (by token hash) until the token's "
        "exp, at most this long: a token revoked at the IdP is refused within this",
    )
    introspection_negative_cache_s: float = Field(
        default=10.0, ge=0, description="an inactive or refused token's answer is kept this long"
    )

    key_file: Path | None = Field(
        default=None,
        description="file holding the key that encrypts signing keys at rest; default: "
        "<store>.identity-key beside a SQLite store (created mode 600)",
    )
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description="the key-encryption key itself (64 hex digits); required with PostgreSQL "
        "unless key_file is set; the same on every worker",
    )
    access_token_ttl_s: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=3600)
    code_ttl_s: int = Field(default=60, ge=10, le=600)
    sign_in_ttl_s: int = Field(
        default=600, ge=60, le=3600, description="from /authorize to the consent answer"
    )
    key_rotation_days: float = Field(
        default=30.0, gt=0, description="a new signing key after this; the previous stays published"
    )
    registration_expiry_s: int = Field(
        default=86_400, ge=60, description="a dynamically registered client never used expires"
    )
    registrations_per_minute: int = Field(
        default=10, ge=1, description="dynamic registrations accepted per client address"
    )
    document_max_bytes: int = Field(
        default=5120, ge=512, le=65_536, description="largest client ID metadata document"
    )
    document_timeout_s: float = Field(default=5.0, gt=0, le=30)
    document_cache_s: float = Field(default=300.0, ge=0)
    allow_loopback_documents: bool = Field(
        default=False,
        description="tests only: fetch client ID metadata documents from 127.0.0.1 (http, or https "
        "without checking the certificate)",
    )
    admin_group: str | None = Field(
        default=None,
        max_length=256,
        description="IdP group whose members sign in to the API as admins (giru login --sso)",
    )
    operator_group: str | None = Field(
        default=None, max_length=256, description="IdP group whose members are API operators"
    )
    viewer_group: str | None = Field(
        default=None, max_length=256, description="IdP group whose members are API viewers"
    )


SECRETS_DIR = Path("/run/secrets")
"""Files here named like the variables (GIRU_KEY_PEPPER, GIRU_POLICY__BUNDLE_TOKEN) are read as
settings, after the environment: Docker Compose secrets and mounted Kubernetes Secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GIRU_",
        env_nested_delimiter="__",
        secrets_dir=SECRETS_DIR,
        secrets_dir_missing="ok",
        secrets_nested_delimiter="__",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags, then the environment, then files in SECRETS_DIR (nested names use `__`)."""
        secrets = NestedSecretsSettingsSource(file_secret_settings)
        return (init_settings, env_settings, dotenv_settings, secrets)

    config: Path | None = Field(
        default=None,
        description="manifests applied into the store at start and on every change (GitOps)",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///giru.db",
        description="sqlite+aiosqlite:///FILE (embedded) or postgresql+asyncpg://...",
    )
    redis_url: str | None = Field(
        default=None, description="shared state and change events between gateway workers"
    )
    admin_token: SecretStr | None = Field(
        default=None, description="bootstraps an admin API key named 'bootstrap'"
    )
    key_pepper: SecretStr | None = Field(
        default=None,
        description="server-side secret keying stored API key hashes; required with PostgreSQL",
    )
    store_poll_s: float = Field(
        default=5.0, gt=0, description="how often the store revision is checked besides events"
    )
    listen: str = "127.0.0.1:8080"
    public_url: str | None = Field(
        default=None,
        description="the URL clients reach Giru at (https://mcp.example.com, behind Envoy); "
        "default: http://<listen>. Names OAuth resources and Giru's issuer",
    )
    worker_name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,30}$",
        description="this worker's name behind Envoy; legacy session ids start with NAME.",
    )
    log_format: str = Field(default="json", pattern="^(json|console)$")
    log_level: str = "info"
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    metering: MeteringSettings = Field(default_factory=MeteringSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    xds: XdsSettings = Field(default_factory=XdsSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://mcp.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not have a query, fragment or credentials")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        """`public_url`, else `http://<listen>`: no trailing slash."""
        if self.public_url is not None:
            return self.public_url
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def sqlite_file(self) -> Path | None:
        """The embedded store's file, or None when the store is a shared database."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        return Path(self.database_url.removeprefix(prefix) or "giru.db")

    @property
    def usage_spool_dir(self) -> Path:
        """`GIRU_METERING__SPOOL_DIR`, else `giru-spool/` beside a SQLite store, else
        `./giru-spool`."""
        if self.metering.spool_dir is not None:
            return self.metering.spool_dir
        database = self.sqlite_file
        return Path("giru-spool") if database is None else database.parent / "giru-spool"

    @property
    def audit_spool_dir(self) -> Path:
        """`GIRU_AUDIT__SPOOL_DIR`, else `giru-audit-spool/` beside the usage spool."""
        if self.audit.spool_dir is not None:
            return self.audit.spool_dir
        return self.usage_spool_dir.parent / "giru-audit-spool"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])
