"""The upstream servers' catalogs as the gateway holds them: fetched, refreshed on list changes
and health changes, checked for name collisions, and every change announced to clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Final

import structlog

from giru.catalog.snapshot import ServerCatalog, changed_lists, fetch_catalog, without_lookalikes
from giru.errors import GiruError, UpstreamError
from giru.manifests import check_unprefixed_collisions
from giru.mcp import jsonrpc
from giru.proxy.connections import caller_of
from giru.proxy.discovery import SEARCH_TOOL
from giru.proxy.endpoints import Endpoint, Principal, ViewCache
from giru.proxy.listen import ListenHub
from giru.proxy.sessions import SessionStore
from giru.proxy.upstreams import UpstreamPool, exchanges
from giru.trust import Pinning

__all__ = ["Catalogs"]

_log = structlog.get_logger(__name__)
_CATALOG_TIMEOUT_S: Final = 30.0
_LIST_CHANGED_DEBOUNCE_S: Final = 0.2
_PRIME_RETRY_S: Final = 30.0


class Catalogs:
    """Each enabled server's catalog (`by_server`), the part clients see (`listed`), and the
    refreshes that keep them current."""

    def __init__(
        self,
        pool: UpstreamPool,
        views: ViewCache,
        endpoints: Callable[[], Mapping[str, Endpoint]],
        sessions: SessionStore,
        listens: ListenHub,
    ) -> None:
        """`endpoints`: the gateway's endpoints as they are now (a reload replaces them)."""
        self.by_server: dict[str, ServerCatalog] = {}
        self.ready = False
        self.warnings: list[str] = []
        self.on_catalog: Callable[[ServerCatalog], Awaitable[Any]] | None = None
        """Called with each freshly fetched catalog (the control plane records it)."""
        self.pinning: Pinning | None = None
        """Tool trust: admits each fetched catalog, clients see approved tools only (wiring)."""
        self._pool = pool
        self._views = views
        self._endpoints = endpoints
        self._sessions = sessions
        self._listens = listens
        self._refreshes: dict[str, asyncio.Task[None]] = {}
        self._stale: set[str] = set()
        """Servers whose lists changed (or may have) since their refresh began."""
        self._hidden: set[str] = set()
        """Unhealthy servers with `keepStale: false`: out of clients' views."""
        self.awaiting_person: dict[str, float] = {}
        """`token-exchange` servers never listed yet, each with when a person's token may next
        be tried to list them (their tools are listed with a token exchanged for a person)."""

    async def refresh_all(self) -> None:
        async with asyncio.TaskGroup() as group:
            for server in self._pool.specs:
                group.create_task(self.refresh(server))
        self.ready = True

    async def refresh(self, server: str, *, announce: bool = True) -> None:
        """Fetch `server`'s lists; on failure keep what we had and record the error. Clients
        are told which lists changed (`announce`), so nothing changes silently."""
        previous = self.by_server.get(server, ServerCatalog(server=server))
        try:
            catalog = await self._fetch(server)
        except (GiruError, TimeoutError) as exc:
            self.by_server[server] = ServerCatalog(
                **{**_fields(previous), "error": getattr(exc, "message", "timeout")}
            )
            _log.warning("catalog_refresh_failed", server=server, error=str(exc)[:300])
            if exchanges(self._pool.specs.get(server)) and not previous.server_info:
                self.awaiting_person.setdefault(server, 0.0)
        else:
            self.by_server[server] = await self._admitted(catalog)
            self.awaiting_person.pop(server, None)
            _log.info("catalog_refreshed", server=server, tools=len(catalog.tools))
            await self._catalog_fetched(catalog)
        self._views.clear()
        self._check_collisions()
        if announce and server not in self._hidden:
            for method in changed_lists(previous, self.by_server[server]):
                await self.broadcast({"jsonrpc": "2.0", "method": method})

    async def _fetch(self, server: str) -> ServerCatalog:
        """`server`'s lists; a credential it refuses (401) is renewed for one retry."""
        session = await self._pool.session(server, "modern")  # the era calls prefer too
        try:
            return await asyncio.wait_for(fetch_catalog(session), _CATALOG_TIMEOUT_S)
        except UpstreamError as exc:
            if not await self._pool.refused(server, None, session, exc):
                raise
        session = await self._pool.session(server, "modern")  # renewed: once more, no loop
        return await asyncio.wait_for(fetch_catalog(session), _CATALOG_TIMEOUT_S)

    async def prime(self, principal: Principal) -> None:
        """List the `token-exchange` servers never listed yet with a token exchanged for the
        person `principal` is (their first request after such a server is configured waits
        for it; a failure becomes the catalog's error, e.g. a broker-mode token, and is tried
        again with another request after `_PRIME_RETRY_S`)."""
        caller = caller_of(principal)
        if caller is None or caller.token is None:
            return
        now = time.monotonic()
        for server, after in list(self.awaiting_person.items()):
            if not exchanges(self._pool.specs.get(server)):  # removed or changed since
                self.awaiting_person.pop(server, None)
                continue
            if after > now:
                continue
            self.awaiting_person[server] = now + _PRIME_RETRY_S
            try:
                await self._pool.connected_session(server, caller, "modern")
            except GiruError as exc:  # why, where /readyz and the servers API show it
                _log.warning("catalog_prime_failed", server=server, error=exc.message[:300])
                previous = self.by_server.get(server, ServerCatalog(server=server))
                self.by_server[server] = replace(previous, error=exc.message)
                continue
            await self.refresh(server)

    @property
    def listed(self) -> Mapping[str, ServerCatalog]:
        """The catalogs clients see: all but those of down servers with `keepStale: false`."""
        if not self._hidden:
            return self.by_server
        return {name: c for name, c in self.by_server.items() if name not in self._hidden}

    async def health_changed(self, server: str, *, healthy: bool) -> None:
        """A server with `catalog.keepStale: false` leaves clients' views while it is unhealthy
        and comes back when it recovers, each time announced with list_changed."""
        spec = self._pool.specs.get(server)
        hide = not healthy and spec is not None and not spec.keep_stale
        if hide == (server in self._hidden):
            return
        (self._hidden.add if hide else self._hidden.discard)(server)
        self._views.clear()
        _log.info("catalog_listed" if not hide else "catalog_withdrawn", server=server)
        empty = ServerCatalog(server=server)
        for method in changed_lists(empty, self.by_server.get(server, empty)):
            await self.broadcast({"jsonrpc": "2.0", "method": method})

    async def _admitted(self, catalog: ServerCatalog) -> ServerCatalog:
        """`catalog` with only the tools tool trust approves (all of them without it), and of
        those whose names look alike only the first (docs/security/bad-input.md M6)."""
        trusted = catalog if self.pinning is None else await self.pinning.admit(catalog)
        return without_lookalikes(trusted)

    async def retrust(self, catalogs: Mapping[str, ServerCatalog]) -> None:
        """Serve the catalogs tool trust approves now (after a decision), announcing changes."""
        for server, trusted in catalogs.items():
            previous = self.by_server.get(server)
            if previous is None or server not in self._pool.specs:
                continue
            self.by_server[server] = replace(without_lookalikes(trusted), error=previous.error)
            self._views.clear()
            if server not in self._hidden:
                for method in changed_lists(previous, self.by_server[server]):
                    await self.broadcast({"jsonrpc": "2.0", "method": method})

    async def _catalog_fetched(self, catalog: ServerCatalog) -> None:
        if self.on_catalog is None:
            return
        try:
            await self.on_catalog(catalog)
        except Exception:  # noqa: BLE001 - recording the catalog must not fail the refresh
            _log.exception("catalog_record_failed", server=catalog.server)

    def _check_collisions(self) -> None:
        """Unprefixed virtual servers whose servers now offer the same tool name: the first
        server keeps the name; the operator is told (and /readyz shows it)."""
        problems: list[str] = []
        for endpoint in self._endpoints().values():
            if endpoint.prefix:
                continue
            tools = {
                server: [t["name"] for t in catalog.tools if endpoint.offers(server, t["name"])]
                for server, catalog in self.by_server.items()
                if server in endpoint.all_servers
            }
            problems += check_unprefixed_collisions(endpoint.name, tools)
            if endpoint.search is not None:
                problems += [
                    f"VirtualServer/{endpoint.name}: tool {SEARCH_TOOL!r} of {server} is hidden "
                    "by Giru's own (discovery: search); set prefix: true to reach it"
                    for server, names in tools.items()
                    if SEARCH_TOOL in names
                ]
        if problems != self.warnings:
            for problem in problems:
                _log.warning("virtual_server_collision", problem=problem)
        self.warnings = problems

    async def on_list_changed(self, server: str, method: str) -> None:
        """Schedule one refresh per server (coalescing floods, U4); never block the upstream's
        reader, which is what delivers this notification (or the restart of its session). One
        that arrives while a refresh is fetching runs one more refresh after it, so no change
        is lost. The refresh tells clients which lists changed."""
        self._stale.add(server)
        if server in self._refreshes:
            return
        task = asyncio.get_running_loop().create_task(self._refresh_later(server))
        self._refreshes[server] = task
        task.add_done_callback(lambda _: self._refreshes.pop(server, None))

    async def _refresh_later(self, server: str) -> None:
        while server in self._stale:
            await asyncio.sleep(_LIST_CHANGED_DEBOUNCE_S)
            self._stale.discard(server)
            await self.refresh(server)

    async def broadcast(self, notification: dict[str, Any]) -> None:
        """Send a notification to every session's standalone stream (legacy era)."""
        self._listens.publish(notification["method"])
        data = jsonrpc.dumps(notification)
        for session in self._sessions.all():
            if session.listener is not None and not session.listener.closed:
                await session.listener.push(data)

    async def aclose(self) -> None:
        """Cancel the refreshes under way."""
        refreshes = list(self._refreshes.values())
        for task in refreshes:
            task.cancel()
        await asyncio.gather(*refreshes, return_exceptions=True)


def _fields(catalog: ServerCatalog) -> dict[str, Any]:
    return {name: getattr(catalog, name) for name in ServerCatalog.__slots__}
