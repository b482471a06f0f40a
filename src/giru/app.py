"""Wiring: the one place that builds components and owns their lifetime (the ASGI lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from giru.access.apikeys import KeyVerifier
from giru.access.bootstrap import bootstrap_admin, key_pepper
from giru.access.clients import ClientDirectory
from giru.api import build_api
from giru.api.auth import RoleGroups
from giru.api.context import SignInOffer
from giru.approvals import ApprovalDesk, open_approvals
from giru.audit import AuditLog, AuditMetrics, verify_periodically
from giru.console import Console, is_console_path, shipped_ui
from giru.control import Controller, GatewayRuntime
from giru.credentials import UpstreamCredentials, open_secret_store
from giru.credentials.connections import Connections, open_connections
from giru.credentials.connections.pages import PAGE_PATHS, connection_pages
from giru.credentials.oauth import TokenTrail
from giru.credentials.sign_ins import SignInTokens
from giru.credentials.upstream import open_upstream_credentials
from giru.egress import AddressPolicy, egress_connector, egress_session
from giru.egress.lean import LeanClient
from giru.errors import ConfigError, StoreUnavailableError
from giru.identity import (
    MAX_ANSWER_BYTES,
    FormPost,
    JsonFetch,
    ProtectedResource,
    Revocations,
    http_fetch,
    http_post,
)
from giru.identity.broker import (
    Broker,
    LocalKeySource,
    broker_app,
    broker_idp,
    broker_provider,
    is_broker_path,
    open_broker,
    resource_urls,
    use_idp,
)
from giru.identity.broker.trail import OAuthTrail
from giru.limits import Limiter, open_limiter
from giru.manifests import Config, watch
from giru.metering import UsageWriter
from giru.policy import PolicyEngine
from giru.policy.bundle import shipped_policies
from giru.policy.metrics import PolicyMetrics
from giru.policy.serving import BUNDLE_PATH, serve_bundle
from giru.proxy.consent import consent_of
from giru.proxy.cors import Cors
from giru.proxy.gate import CallGate
from giru.proxy.gateway import Gateway
from giru.proxy.handoff import SessionHandoff
from giru.proxy.http import Receive, Scope, Send
from giru.runtime import (
    breaker_reports,
    build_endpoints,
    build_gateway,
    health_and_sync,
    load_then_freeze,
    open_pinning,
    retrust,
    sweep_sessions,
)
from giru.settings import LimitsSettings, Settings
from giru.store import Kind, Store
from giru.store.events import open_change_bus
from giru.telemetry.metrics import Metrics
from giru.telemetry.tracing import Tracing
from giru.trust import TrustTrail
from giru.xds.authz import serve_authz
from giru.xds.edge import EdgeControl
from giru.xds.keycheck import EdgeAccess

__all__ = ["GiruApp"]

_log = structlog.get_logger(__name__)
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GiruApp:
    """The ASGI app: lifespan builds everything from settings; `/api` goes to the control-plane
    API, `/ui` to the web console, every other path to the gateway."""

    def __init__(
        self, settings: Settings, config: Config | None = None, *, adopt: bool = False
    ) -> None:
        self.settings = settings
        self.files = config  # manifests given with --config, already validated
        self._adopt = adopt  # take over other directories' objects on the first apply
        self.broker: ASGIApp | None = None  # the OAuth authorization server's endpoints
        self._authorization: tuple[Broker, aiohttp.ClientSession] | None = None
        self.gateway: Gateway | None = None
        self.api: ASGIApp | None = None
        self.controller: Controller | None = None
        self.policy: PolicyEngine | None = None
        self.edge: EdgeControl | None = None
        self.credentials: UpstreamCredentials | None = None
        self.connections: Connections | None = None
        self.pages: ASGIApp | None = None  # connections' browser pages (/oauth/connect, ...)
        self._pepper = b""
        self._fetch: JsonFetch | None = None
        self._post: FormPost | None = None
        self.revocations = Revocations()
        """People whose access an admin revoked; shared by every `ProtectedResource` built."""
        self.console = Console(shipped_ui())
        self.cors: Cors | None = None  # CORS on the MCP and OAuth endpoints (the gateway's guard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        # Most requests carry no Origin: one check, then straight to the app that answers.
        origin = self.cors.allowed_origin(scope) if self.cors is not None else None
        if origin is not None and self.cors is not None:
            await self.cors(scope, receive, send, self._route, origin)
            return
        app = self._app_for(scope)
        if app is not None:
            await app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app_for(scope)
        if app is not None:
            await app(scope, receive, send)

    def _app_for(self, scope: Scope) -> ASGIApp | None:
        """Who answers `scope`: the policy bundle, `/api`, the connections' pages, the OAuth
        broker, the console, else the gateway (None before it is built)."""
        path = scope.get("path", "")
        if path == BUNDLE_PATH and scope["type"] == "http":
            return self._bundle
        if self.api is not None and _is_api(path):
            return self.api
        if self.pages is not None and path in PAGE_PATHS:
            return self.pages
        if self.broker is not None and is_broker_path(path):
            return self.broker
        if is_console_path(path):
            return self.console
        return self.gateway

    async def _bundle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_bundle(self.policy, self._bundle_token(), scope, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:  # noqa: BLE001 - the lifespan boundary reports any failure
            _log.exception("startup_failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        metrics = Metrics()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with contextlib.AsyncExitStack() as stack:
            self._pepper = pepper = key_pepper(self.settings)
            store = await Store.open(self.settings.database_url, pepper=pepper)
            stack.push_async_callback(store.aclose)
            bus = open_change_bus(self.settings.redis_url)
            stack.push_async_callback(bus.aclose)
            await bootstrap_admin(store, self.settings)
            self.revocations.merge(_epochs(await store.person_revocations()))
            if self.files is not None:
                await self._apply_files(store, self.files)
            controller = Controller(store, bus, self._reload, poll_s=self.settings.store_poll_s)
            config = await controller.load()
            egress = AddressPolicy(
                allow_loopback=self.settings.egress.allow_loopback,
                allow_private=self.settings.egress.allow_private,
            )
            http = await stack.enter_async_context(
                egress_session(
                    egress, timeout=timeout, connector=egress_connector(egress, limit=256)
                )
            )
            identity = self.settings.identity
            self._fetch = http_fetch(http, timeout_s=identity.http_timeout_s)
            self._post = http_post(
                http, timeout_s=identity.introspection_timeout_s, max_bytes=MAX_ANSWER_BYTES
            )
            # The usage spool drains records of versions before one frame per call (now a
            # call's usage record rides in its audit record's frame) and of gates without audit.
            metering = self.settings.metering
            usage = await UsageWriter.open(
                store,
                self.settings.usage_spool_dir,
                max_bytes=metering.spool_max_bytes,
                group_commit_ms=metering.group_commit_ms,
                batch_size=metering.batch_size,
                registry=metrics.registry,
            )
            stack.push_async_callback(usage.aclose)
            audit = await AuditLog.open(  # closed after the gateway: its last calls audit
                store,
                self.settings.audit_spool_dir,
                metrics=AuditMetrics(metrics.registry),
                usage_metrics=usage.metrics,
                max_bytes=self.settings.audit.spool_max_bytes,
                group_commit_ms=self.settings.metering.group_commit_ms,
            )
            stack.push_async_callback(audit.aclose)
            node = _node(audit.spool.directory)
            secret_store = open_secret_store(self.settings, store, audit=audit, node=node)
            stack.push_async_callback(secret_store.aclose)
            self.credentials = open_upstream_credentials(
                self.settings, secret_store, http, audit=audit, node=node
            )
            stack.push_async_callback(self.credentials.aclose)
            tracing = Tracing.from_settings(self.settings.otel, metrics.registry)
            if tracing is not None:  # closed after the gateway: its last requests' spans
                stack.push_async_callback(tracing.aclose)
            upstream_http = LeanClient(egress)  # the MCP connectors' client (keep-alive pool)
            stack.push_async_callback(upstream_http.aclose)
            gateway = build_gateway(
                self.settings,
                config,
                http=upstream_http,
                metrics=metrics,
                pepper=pepper,
                credentials=self.credentials,
            )
            gateway.admission.resource = self._protected(config, None)
            gateway.tracing = tracing
            tool_trail = TrustTrail(audit, node=node)
            gateway.catalogs.pinning = await open_pinning(store, gateway, tool_trail)
            self.connections = open_connections(
                secret_store,
                http,
                base_url=self.settings.base_url,
                specs=lambda: gateway.pool.specs,
                audit=audit,
                node=node,
                on_connected=gateway.catalogs.refresh,
                shared=self.credentials.shared_tokens,
                redis_url=self.settings.redis_url,
            )
            stack.push_async_callback(self.connections.aclose)
            gateway.pool.connections = self.connections.tokens
            self.pages = connection_pages(self.connections.flows, self.settings.base_url)
            if self.settings.redis_url is not None:  # closed after the gateway (LIFO)
                gateway.handoff = SessionHandoff(
                    self.settings.redis_url, ttl_s=self.settings.sessions.idle_timeout_s
                )
                stack.push_async_callback(gateway.handoff.aclose)
            stack.push_async_callback(gateway.pool.aclose)
            stack.push_async_callback(gateway.aclose)
            limits = self.settings.limits
            limiter = open_limiter(self.settings.redis_url, limits, metrics.registry)
            stack.push_async_callback(limiter.aclose)
            policy = await self._policy(config, metrics.registry)
            if policy is not None:
                stack.push_async_callback(policy.aclose)
            board = open_approvals(
                self.settings.redis_url, lease_s=self.settings.approvals.holder_lease_s
            )
            stack.push_async_callback(board.aclose)
            gateway.dispatcher.gate = CallGate(
                limiter, usage, node=node, policy=policy, audit=audit
            )
            gateway.dispatcher.gate.consent = consent_of(self.settings.approvals, board, node)
            await self._authorization_server(store, audit, node, http, controller)
            self._trust_own_keys(gateway.admission.resource)
            if self.settings.xds.listen is not None:
                self.edge = await stack.enter_async_context(
                    EdgeControl.serving(
                        self.settings,
                        config.virtual_servers,
                        registry=metrics.registry,
                        access=EdgeAccess.of_gateway(gateway),
                    )
                )
            authz_listen = self.settings.xds.authz_listen
            if authz_listen is not None:
                await stack.enter_async_context(
                    serve_authz(lambda: self.gateway, metrics, authz_listen)
                )
            async with asyncio.TaskGroup() as tasks:
                background = [
                    tasks.create_task(load_then_freeze(gateway)),
                    tasks.create_task(controller.run()),
                    tasks.create_task(sweep_sessions(gateway)),
                ]
                if self.files is not None and self.settings.config is not None:
                    watcher = watch(self.settings.config, self._files_changed, current=self.files)
                    background.append(tasks.create_task(watcher))
                runtime = GatewayRuntime(
                    gateway,
                    store,
                    controller.committed,
                    lambda: controller.config,
                    limiter,
                    policy=policy,
                )
                background.append(tasks.create_task(_reconcile_quotas(store, limiter, limits)))
                verify_every = self.settings.audit.verify_interval_s
                if verify_every > 0:
                    chains = verify_periodically(store.audit_chain, audit.metrics, verify_every)
                    background.append(tasks.create_task(chains))
                gateway.catalogs.on_catalog = runtime.record
                background += health_and_sync(tasks, gateway, store, self.settings.catalog)
                breakers = breaker_reports(gateway, store, node)
                background.append(tasks.create_task(breakers.run()))
                if self.edge is not None:
                    background.append(tasks.create_task(self.edge.watch_tls()))
                self.controller, self.gateway = controller, gateway
                self.cors = Cors(gateway.guard)
                identity = self.settings.identity
                self.api = build_api(
                    store,
                    runtime=runtime,
                    pepper=pepper,
                    secrets_store=secret_store,
                    connections=self.connections,
                    people=lambda: gateway.admission.resource,
                    groups=RoleGroups(
                        identity.admin_group, identity.operator_group, identity.viewer_group
                    ),
                    revocations=self.revocations,
                    trail=OAuthTrail(audit, node),
                    trace_url=self.settings.otel.trace_url,
                    tool_trail=tool_trail,
                    approvals=ApprovalDesk(board, audit, node=node),
                    sign_in=self._sign_in_offer,
                )
                try:
                    yield gateway
                finally:
                    self.gateway = self.api = self.controller = self.policy = self.edge = None
                    self.cors = None
                    self.broker = self._authorization = self.pages = self.connections = None
                    for task in background:
                        task.cancel()

    async def _policy(self, config: Config, registry: CollectorRegistry) -> PolicyEngine | None:
        """The policy engine (a managed OPA child unless `policy.url` names one), started."""
        settings = self.settings.policy
        if not settings.enabled:
            _log.warning("policy_disabled", note="calls are not decided by OPA")
            return None
        shipped = shipped_policies()
        host, _, port = self.settings.listen.rpartition(":")
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - where we listen
        host = "[::1]" if host in ("::", "[::]") else host
        engine = PolicyEngine(
            [*([shipped] if shipped else []), *settings.dirs],
            opa_url=settings.url,
            opa_binary=settings.opa_binary,
            bundle_url=f"http://{host}:{port}{BUNDLE_PATH}",
            timeout_s=settings.timeout_ms / 1000,
            metrics=PolicyMetrics(registry),
            evaluator=settings.evaluator,
        )
        await engine.start(config)
        self.policy = engine
        return engine

    def _bundle_token(self) -> str | None:
        configured = self.settings.policy.bundle_token
        if configured is not None:
            return configured.get_secret_value()
        return self.policy.bundle_token if self.policy is not None else None

    def _protected(
        self, config: Config, previous: ProtectedResource | None
    ) -> ProtectedResource | None:
        """The OAuth issuers `config` trusts (None without IdentityProviders)."""
        if not config.identity_providers or self._fetch is None:
            return None
        settings = self.settings
        return ProtectedResource.from_config(
            config,
            settings.base_url,
            settings.identity,
            self._fetch,
            previous,
            post=self._post,
            revocations=self.revocations,
        )

    async def _authorization_server(
        self,
        store: Store,
        audit: AuditLog,
        node: str,
        http: aiohttp.ClientSession,
        controller: Controller,
    ) -> None:
        """Giru's OAuth authorization server; without an identity key-encryption key on a shared
        database it is not served (and Giru refuses to start when a broker IdP is configured)."""
        config = controller.config
        try:
            broker = await open_broker(
                self.settings,
                store.database,
                audit=audit,
                node=node,
                http=http,
                resources=lambda: resource_urls(
                    self.settings.base_url, controller.config.virtual_servers
                ),
                idp=broker_idp(config),
            )
        except ConfigError as exc:
            if broker_idp(config) is not None:
                raise
            _log.warning("authorization_server_disabled", reason=exc.message)
            return
        self.broker, self._authorization = broker_app(broker), (broker, http)
        if self.credentials is not None and self.credentials.tokens is not None:
            trail = TokenTrail(audit, node=node)  # token-exchange upstreams, for broker tokens
            self.credentials.tokens.sign_ins = SignInTokens(broker, trail)

    def _sign_in_offer(self) -> SignInOffer | None:
        """The IdP people may sign in to the console at: the broker's, once a group grants a
        role (else no one could sign in there)."""
        identity = self.settings.identity
        groups = (identity.admin_group, identity.operator_group, identity.viewer_group)
        if self._authorization is None or self.controller is None or not any(groups):
            return None
        provider = broker_provider(self.controller.config)
        issuer = self._authorization[0].config.issuer
        return SignInOffer(provider.name, issuer) if provider is not None else None

    def _trust_own_keys(self, resource: ProtectedResource | None) -> None:
        """Accept at Giru's endpoints the access tokens its authorization server issues."""
        if resource is not None and self._authorization is not None:
            keys = LocalKeySource(self._authorization[0].keys)
            resource.trust(keys, self.settings.identity.leeway_s)

    async def _apply_files(self, store: Store, files: Config) -> None:
        """Apply the manifests into the store; objects they no longer hold are pruned."""
        path = self.settings.config
        managed_by = f"file:{path.resolve() if path is not None else '-'}"
        results = await store.apply(
            manifest_documents(files),
            actor="file",
            managed_by=managed_by,
            prune=True,
            adopt=self._adopt,
        )
        self._adopt = False  # once taken over, the objects are this directory's
        for applied in results:
            if applied.api_key is not None:
                print(  # shown once, on the operator's terminal; never logged
                    f"giru: API key for Client/{applied.name} (shown once): {applied.api_key}",
                    file=sys.stderr,
                    flush=True,
                )

    async def _files_changed(self, files: Config) -> None:
        controller = self.controller
        if controller is None:
            return
        await self._apply_files(controller.store, files)
        self.files = files
        await controller.notify()

    async def _reload(self, config: Config) -> None:
        gateway = self.gateway
        if gateway is None:
            return
        await self._read_revocations()
        try:  # everything that can fail comes before anything changes
            directory = ClientDirectory.from_config(
                config, verifier=self._verifier(gateway), pepper=self._pepper
            )
        except ConfigError as exc:
            _log.error("config_reload_refused", problems=exc.message)
            return
        if self.edge is not None:  # first: Envoy's routes need no upstream to be reached
            self.edge.update(config.virtual_servers)
        if self.credentials is not None:
            self.credentials.forget()  # a secret may have a new version: read again on use
        changed = await gateway.pool.update(config.server_specs())
        if self.policy is not None:
            self.policy.reload(config)
        if isinstance(gateway.authenticator, ClientDirectory):
            directory.adopt_people(gateway.authenticator)
        if self._authorization is not None:
            broker, http = self._authorization
            use_idp(broker, broker_idp(config), http)
        gateway.authenticator = directory
        gateway.admission.resource = self._protected(config, gateway.admission.resource)
        self._trust_own_keys(gateway.admission.resource)
        gateway.endpoints = build_endpoints(config)
        if self.edge is not None:  # the live keys and endpoints the edge checks against
            self.edge.update(config.virtual_servers, EdgeAccess.of_gateway(gateway))
        await retrust(gateway)
        for server in changed:
            await gateway.catalogs.refresh(server, announce=False)  # announced below, once
        gateway.views.clear(gateway.endpoints)
        await gateway.catalogs.broadcast(
            {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        )
        _log.info("config_reloaded", servers_changed=sorted(changed))

    async def _read_revocations(self) -> None:
        """Refuse from now on the tokens of people revoked through another worker."""
        controller = self.controller
        if controller is None:
            return
        try:
            self.revocations.merge(_epochs(await controller.store.person_revocations()))
        except StoreUnavailableError as exc:  # the next reload or poll reads them again
            _log.warning("revocations_not_read", error=exc.message)

    @staticmethod
    def _verifier(gateway: Gateway) -> KeyVerifier | None:
        current = gateway.authenticator
        return current.verifier if isinstance(current, ClientDirectory) else None


def _epochs(times: Mapping[str, datetime]) -> dict[str, float]:
    return {label: at.timestamp() for label, at in times.items()}


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def manifest_documents(config: Config) -> list[tuple[Kind, str, dict[str, Any]]]:
    """(kind, name, spec as written) for every document `config` was loaded from."""
    return [
        (
            located.document.kind,
            located.document.metadata.name,
            located.document.spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
        )
        for located in config.documents
    ]


async def _reconcile_quotas(store: Store, limiter: Limiter, settings: LimitsSettings) -> None:
    """Raise the quota counters to what the usage table holds (never lower: other workers'
    calls may not be drained yet), at start and then periodically."""
    while True:
        now = datetime.now(UTC)
        try:
            await limiter.reconcile(await store.quota_counts(now, settings.timezone), now)
        except StoreUnavailableError as exc:
            _log.warning("quota_reconcile_skipped", error=exc.message)
        await asyncio.sleep(settings.reconcile_s)


def _node(slot: Path) -> str:
    """This worker's name in usage and audit records: the host and its audit spool slot, so a
    restarted worker continues its audit chain and two workers never share one."""
    place = hashlib.sha256(str(slot.parent.resolve()).encode()).hexdigest()[:6]
    return f"{socket.gethostname()}-{place}-{slot.name}"
