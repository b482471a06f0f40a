"""Resource requests: `resources/read`, `subscribe` and `unsubscribe` routed by URI to the server
that lists the resource, and the subscriptions of client sessions kept by Giru."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from giru.errors import UpstreamError
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError, Message
from giru.mcp.versions import era_of
from giru.proxy.context import CallContext
from giru.proxy.upstreams import Owner, UpstreamPool
from giru.upstream.base import UpstreamSession

__all__ = ["RESOURCE_NOT_FOUND", "Resources", "Upstreams"]

RESOURCE_NOT_FOUND: Final = -32002
Forward = Callable[[], Awaitable[dict[str, Any]]]


class Upstreams(Protocol):
    """How a request reaches its server (the dispatcher)."""

    async def forward(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        params: dict[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]: ...

    async def governed(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        target: str,
        arguments: dict[str, Any],
        forward: Forward,
    ) -> dict[str, Any]: ...

    async def upstream_session(
        self, ctx: CallContext, server: str, method: str
    ) -> UpstreamSession: ...

    def check_health(self, server: str) -> None: ...

    def failed(self, message: Message, server: str, exc: UpstreamError) -> dict[str, Any]: ...


class Resources:
    def __init__(self, pool: UpstreamPool, upstreams: Upstreams) -> None:
        self._pool = pool
        self._upstreams = upstreams

    async def by_uri(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        uri = (message.params or {}).get("uri")
        if not isinstance(uri, str):
            raise JsonRpcError(INVALID_PARAMS, "params.uri must be a string")
        server = ctx.view.route_resource(uri)
        if server is None:
            raise JsonRpcError(RESOURCE_NOT_FOUND, "Resource not found", data={"uri": uri[:256]})

        async def forward() -> dict[str, Any]:
            return await self._upstreams.forward(ctx, message, server, message.params)

        if message.method != "resources/read" and ctx.owner is not None:
            return await self._subscription(ctx, message, server, uri, ctx.owner, forward)
        if message.method != "resources/read":
            return await forward()
        return await self._upstreams.governed(ctx, message, server, uri, {}, forward)

    async def _subscription(
        self,
        ctx: CallContext,
        message: Message,
        server: str,
        uri: str,
        owner: Owner,
        forward: Forward,
    ) -> dict[str, Any]:
        """`resources/(un)subscribe` from a client session: Giru keeps who watches what, so
        a shared upstream session's updates reach exactly those sessions; a 2026-07-28
        upstream (no such RPC) is asked on its listen stream and Giru answers itself."""
        watch = self._pool.watch
        if message.method == "resources/unsubscribe":
            watch.remove(server, uri, owner.id)
        elif not watch.add(server, uri, owner):
            raise JsonRpcError(INVALID_PARAMS, "too many resources watched on this server")
        try:
            self._upstreams.check_health(server)
            session = await self._upstreams.upstream_session(ctx, server, message.method or "")
            if era_of(session.protocol_version) == "modern":
                await self._pool.rewatch(server)
                return jsonrpc.result_response(message.id, {})
        except UpstreamError as exc:
            return self._upstreams.failed(message, server, exc)
        return await forward()
