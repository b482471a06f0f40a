"""OAuth connections to upstream MCP servers (`spec.auth: {type: oauth2-authorization-code}`):
people connect in a browser (`ConnectionFlows`), calls carry the connection's access token
(`ConnectionTokens`), tokens live in the secret store (`ConnectionKeeper`), every connect,
disconnect and refresh is audited (`ConnectionTrail`) and told to the other workers
(`ConnectionNotices`). docs/credentials.md#oauth-connections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from giru.credentials.connections.flows import CONNECT_PATH, ConnectionFlows
from giru.credentials.connections.keeper import ConnectionKeeper
from giru.credentials.connections.notices import ConnectionNotices
from giru.credentials.connections.records import SHARED, Connection
from giru.credentials.connections.registration import (
    CALLBACK_PATH,
    CLIENT_METADATA_PATH,
    client_metadata,
)
from giru.credentials.connections.states import StateError
from giru.credentials.connections.tokens import Caller, ConnectionTokens
from giru.credentials.connections.trail import ConnectionTrail
from giru.credentials.oauth import SharedTokens
from giru.credentials.secretstore import AuditSink, SecretStore
from giru.upstream.base import ServerSpec

__all__ = [
    "CALLBACK_PATH",
    "CLIENT_METADATA_PATH",
    "CONNECT_PATH",
    "SHARED",
    "Caller",
    "Connection",
    "ConnectionFlows",
    "ConnectionNotices",
    "ConnectionTokens",
    "Connections",
    "StateError",
    "client_metadata",
    "open_connections",
]


@dataclass(frozen=True, slots=True)
class Connections:
    flows: ConnectionFlows
    tokens: ConnectionTokens
    base_url: str
    notices: ConnectionNotices | None = None

    async def aclose(self) -> None:
        """Stop listening to the other workers' connection notices."""
        if self.notices is not None:
            await self.notices.aclose()


def open_connections(
    secrets: SecretStore,
    http: aiohttp.ClientSession,
    *,
    base_url: str,
    specs: Callable[[], Mapping[str, ServerSpec]],
    audit: AuditSink | None = None,
    node: str = "",
    on_connected: Callable[[str], Awaitable[None]] | None = None,
    shared: SharedTokens | None = None,
    redis_url: str | None = None,
) -> Connections:
    """The connection pieces over `secrets`, reaching authorization servers through `http`
    (Giru's SSRF-guarded egress session); `shared`: the workers' token lock (Redis), under
    which one worker refreshes a connection; `redis_url`: where workers tell each other of a
    connection kept or removed (`ConnectionNotices`), so none calls with tokens it replaced.
    Call from the event loop; `aclose()` the result."""
    notices = ConnectionNotices(redis_url) if redis_url else None
    keeper = ConnectionKeeper(secrets, http, base_url=base_url, specs=specs, notices=notices)
    trail = ConnectionTrail(audit, node=node)
    holder: list[ConnectionTokens] = []
    flows = ConnectionFlows(
        keeper, trail, forget=lambda s, p: holder[0].forget(s, p), on_connected=on_connected
    )
    tokens = ConnectionTokens(keeper, flows, trail, shared=shared)
    holder.append(tokens)
    if notices is not None:
        notices.start(tokens.changed)
    return Connections(flows, tokens, base_url, notices)
