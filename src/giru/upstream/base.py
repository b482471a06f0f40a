"""The seam between the gateway and one upstream MCP server, whatever its transport or era."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, runtime_checkable

from giru.upstream.auth import MtlsAuth, OAuthClientAuth

__all__ = [
    "RESTARTED",
    "ClientIdentity",
    "EraChoice",
    "Isolation",
    "MessageSink",
    "ResourceWatcher",
    "ServerSpec",
    "Timeouts",
    "UpstreamAuth",
    "UpstreamOAuth",
    "UpstreamSession",
]

Transport = Literal["stdio", "sse", "streamable-http"]
Isolation = Literal["shared", "session"]
EraChoice = Literal["auto", "legacy", "modern"]
TrustMode = Literal["pin", "review", "auto"]
"""Which protocol era to speak to a Streamable HTTP upstream: `auto` probes (`server/discover`
or `initialize` first, depending on the calling client's era) and remembers the answer."""
"""`shared`: one upstream session serves every client. `session`: each legacy client session gets
its own upstream session (for stdio, its own process) that mirrors the client's capabilities, so
roots, sampling and elicitation are the client's own."""

MessageSink = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
"""Receives a message the upstream sent towards the client.

For a notification (progress, logging, list_changed, ...) it returns None. For a server->client
request (sampling/createMessage, elicitation/create, roots/list, ping) it returns the JSON-RPC
response to send back upstream; the connector rewrites its id to the upstream's request id.
"""

RESTARTED: Final = {"jsonrpc": "2.0", "method": "giru/upstream-restarted"}
"""What an upstream session hands its `on_unsolicited` sink after it had to start over with the
server (an HTTP session the server forgot, a stdio child that died): the server's lists may have
changed, so the gateway fetches them again and tells clients what changed. Never sent to a
client."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `call` is reset by progress notifications, `call_max` never is."""

    connect: float = 10.0
    call: float = 60.0
    call_max: float = 600.0


@dataclass(frozen=True, slots=True)
class UpstreamAuth:
    """A secret Giru presents to the upstream (`spec.auth: {type: static}`): entry `key` of
    secret `secret`, after `prefix`, as header `header` (HTTP) or environment variable `env`
    (stdio). Resolved into `headers` / `env` before connecting; connectors never see it."""

    secret: str
    key: str = "value"
    header: str | None = None
    env: str | None = None
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class UpstreamOAuth:
    """`spec.auth: {type: oauth2-authorization-code}`: the upstream takes OAuth access tokens
    from connections people make in a browser; `shared`: one connection for every caller,
    `perUser`: each person's own (giru.credentials.connections)."""

    connection: Literal["shared", "perUser"] = "shared"
    client_id: str | None = None
    client_secret: tuple[str, str] | None = None
    """(secret name, entry) of a confidential client's secret."""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What the gateway knows about one upstream MCP server (from an `MCPServer` manifest)."""

    name: str
    transport: Transport
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    cwd: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    timeouts: Timeouts = field(default_factory=Timeouts)
    tags: tuple[str, ...] = ()
    isolation: Isolation = "shared"
    era: EraChoice = "auto"
    auth: UpstreamAuth | OAuthClientAuth | MtlsAuth | None = None
    trust: TrustMode = "pin"
    """`spec.trust`: how its tool definitions are pinned (docs/tool-trust.md)."""
    keep_stale: bool = True
    """`spec.catalog.keepStale`: an unhealthy server's lists stay in clients' views (calls fail at
    once with a clear error); false: they leave the views, announced with list_changed."""
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    """The client certificate context of `mtls` auth (set when resolved; None: the default)."""
    oauth: UpstreamOAuth | None = None


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """How the gateway introduces itself upstream: it mirrors the downstream client."""

    capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(
        default_factory=lambda: {"name": "giru", "version": "0.1.0"}
    )
    protocol_version: str = "2025-11-25"


class UpstreamSession(Protocol):
    """One live MCP session (legacy era) or request context (modern era) with one server."""

    @property
    def server(self) -> str: ...

    @property
    def protocol_version(self) -> str:
        """The version negotiated with the upstream."""
        ...

    @property
    def initialize_result(self) -> dict[str, Any]:
        """The upstream's initialize (or server/discover) result: capabilities, serverInfo, ..."""
        ...

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- an idle timeout that progress resets
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send a request; return the upstream's JSON-RPC response object (result or error).

        The connector mints its own request id and returns the response with that id; callers
        put back the downstream id. `headers` are extra HTTP headers for this request (the
        `Mcp-Param-*` of a modern upstream; ignored by stdio). Messages the upstream sends in
        relation to this request (progress, logging, server->client requests) go to
        `on_message`. Raises
        `UpstreamTimeoutError` (after sending notifications/cancelled), `UpstreamUnavailableError`
        or `UpstreamProtocolError`. Cancelling the awaiting task cancels the upstream request.
        """
        ...

    async def notify(self, method: str, params: dict[str, Any] | None) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ResourceWatcher(Protocol):
    """A session that can ask its upstream for resource updates without `resources/subscribe`
    (a 2026-07-28 upstream: URIs on its `subscriptions/listen` stream)."""

    async def watch_resources(self, uris: frozenset[str]) -> bool:
        """Updates for exactly `uris` from now on; False when this session cannot (legacy)."""
        ...
