"""One call's context: who asks, what they can see, how to reach them; and what a value
handed out in answer to a call is bound to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from giru.catalog.views import View
from giru.mcp.jsonrpc import Message
from giru.mcp.versions import Era
from giru.proxy.endpoints import Principal
from giru.proxy.envelopes import Binding, client_principal
from giru.proxy.upstreams import Owner
from giru.upstream.base import MessageSink

__all__ = ["CallContext", "binding_of"]


@dataclass(slots=True)
class CallContext:
    """Who asks, what they can see, and how to reach them while the call runs."""

    view: View
    client: str
    protocol_version: str
    relay: MessageSink | None = None
    era: Era = "legacy"
    owner: Owner | None = None
    """The client session, for servers that isolate upstream sessions per client."""
    log_level: str | None = None
    """A legacy session's `logging/setLevel`, carried to modern upstreams as `_meta`."""
    on_set_level: Callable[[str], None] | None = None
    principal: Principal | None = None
    """The caller with its grants and limits (None: an endpoint without authentication)."""
    virtual_server: str | None = None
    """The virtual server's endpoint the request came through (None: the global `/mcp`)."""
    declared: Mapping[str, Any] | None = None
    """A 2026-07-28 request's declared client capabilities (a legacy session's are Giru's)."""


def binding_of(ctx: CallContext, message: Message) -> Binding:
    """Who a value handed out in answer to `message` is bound to: the caller's principal, the
    endpoint, the method and the tool, prompt or resource the client named."""
    client = ctx.principal.name if ctx.principal is not None else ctx.client
    params = message.params or {}
    target = params.get("name", params.get("uri"))
    return Binding(
        principal=client_principal(client),
        endpoint=f"/mcp/{ctx.virtual_server}" if ctx.virtual_server else "/mcp",
        method=message.method or "",
        target=target if isinstance(target, str) else "",
    )
