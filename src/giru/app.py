"""Wiring: the one place that builds components and owns their lifetime (the ASGI lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import aiohttp
import structlog
import uvicorn

from giru.access.apikeys import KeyVerifier
from giru.access.clients import ClientDirectory
from giru.errors import ConfigError
from giru.manifests import Config, load, watch
from giru.manifests.config import split_tool_ref
from giru.proxy.endpoints import GLOBAL, Endpoint
from giru.proxy.gateway import Gateway
from giru.proxy.http import Receive, Scope, Send
from giru.proxy.protocol import guarded_protocol
from giru.proxy.upstreams import UpstreamPool
from giru.settings import Settings
from giru.telemetry.logging import configure_logging
from giru.telemetry.metrics import Metrics

__all__ = ["GiruApp", "build_endpoints", "serve"]

_log = structlog.get_logger(__name__)
_SWEEP_INTERVAL_S = 30.0


def build_endpoints(config: Config) -> dict[str, Endpoint]:
    """`/mcp` offers every enabled server, prefixed; each virtual server its own bundle."""
    enabled = tuple(name for name, server in config.servers.items() if server.enabled)
    endpoints = {GLOBAL: Endpoint(name=GLOBAL, servers=enabled)}
    for vs in config.virtual_servers.values():
        refs = (split_tool_ref(ref) for ref in vs.tools)
        endpoints[vs.name] = Endpoint(
            name=vs.name,
            servers=tuple(s for s in vs.servers if s in enabled),
            tools=frozenset(ref for ref in refs if ref is not None and ref[0] in enabled),
            prefix=vs.prefix,
            auth=vs.auth,
        )
    return endpoints


class GiruApp:
    """The ASGI app: lifespan builds the gateway from settings; requests go to the gateway."""

    def __init__(self, settings: Settings, config: Config) -> None:
        self.settings = settings
        self.config = config
        self.gateway: Gateway | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.gateway is not None:
            await self.gateway(scope, receive, send)

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
            http = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=256))
            )
            gateway = self._gateway(http, metrics)
            stack.push_async_callback(gateway.pool.aclose)
            stack.push_async_callback(gateway.aclose)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(_load_then_freeze(gateway))
                watcher = tasks.create_task(
                    watch(self.settings.config, self._reload, current=self.config)
                )
                sweeper = tasks.create_task(_sweep_sessions(gateway))
                self.gateway = gateway
                try:
                    yield gateway
                finally:
                    self.gateway = None
                    watcher.cancel()
                    sweeper.cancel()

    def _gateway(self, http: aiohttp.ClientSession, metrics: Metrics) -> Gateway:
        holder: dict[str, Gateway] = {}

        async def on_list_changed(server: str, method: str) -> None:
            await holder["gateway"].on_list_changed(server, method)

        pool = UpstreamPool(
            self.config.server_specs(), http=http, metrics=metrics, on_list_changed=on_list_changed
        )
        gateway = Gateway(
            settings=self.settings,
            pool=pool,
            metrics=metrics,
            authenticator=ClientDirectory.from_config(self.config),
            endpoints=build_endpoints(self.config),
        )
        holder["gateway"] = gateway
        return gateway

    async def _reload(self, config: Config) -> None:
        gateway = self.gateway
        if gateway is None:
            return
        try:  # everything that can fail comes before anything changes
            directory = ClientDirectory.from_config(config, verifier=self._verifier(gateway))
        except ConfigError as exc:
            _log.error("config_reload_refused", problems=exc.message)
            return
        changed = await gateway.pool.update(config.server_specs())
        gateway.authenticator = directory
        gateway.endpoints = build_endpoints(config)
        self.config = config
        for server in changed:
            await gateway.refresh(server)
        gateway.views.clear()
        _log.info("config_reloaded", servers_changed=sorted(changed))

    @staticmethod
    def _verifier(gateway: Gateway) -> KeyVerifier | None:
        current = gateway.authenticator
        return current.verifier if isinstance(current, ClientDirectory) else None


async def _load_then_freeze(gateway: Gateway) -> None:
    """Fetch every catalog, then move the long-lived heap out of the collector's way: without
    this, each young collection rescans catalogs and sessions (measured: p99 x3 under load)."""
    await gateway.refresh_all()
    gc.collect()
    gc.freeze()


async def _sweep_sessions(gateway: Gateway) -> None:
    """Close idle sessions even when nobody touches them again (BAD-INPUT S15)."""
    while True:
        await asyncio.sleep(_SWEEP_INTERVAL_S)
        gateway.sessions.expire()


def serve(settings: Settings, *, config: Config | None = None) -> None:
    """Run Giru in this process until interrupted."""
    configure_logging(settings.log_format, settings.log_level)
    gc.set_threshold(20_000, 50, 1_000)  # fewer young collections on a request-heavy heap
    app = GiruApp(settings, config if config is not None else load(settings.config))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http=guarded_protocol(settings.http.header_timeout_s),
            lifespan="on",
            access_log=False,
            log_level="warning",
            server_header=False,
            proxy_headers=False,  # X-Forwarded-* are not trusted unless a proxy is configured
            timeout_keep_alive=30,
        )
    )
    server.run()
