"""`connect`: build the connector a `ServerSpec` names, handshake, return a ready session."""

from __future__ import annotations

from giru.egress.lean import LeanClient
from giru.upstream._handshake import EraCache
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec, UpstreamSession
from giru.upstream.http import StreamableHttpSession
from giru.upstream.sse import LegacySseSession
from giru.upstream.stdio import StdioSession

__all__ = ["connect"]


async def connect(
    spec: ServerSpec,
    identity: ClientIdentity,
    *,
    on_unsolicited: MessageSink,
    http: LeanClient,
    eras: EraCache | None = None,
) -> UpstreamSession:
    """Open a session with one upstream and complete the MCP handshake.

    Args:
        spec: The upstream (transport, command or URL, headers, timeouts).
        identity: The downstream client's capabilities and version, mirrored upstream.
        on_unsolicited: Receives server messages tied to no request (list_changed, roots/list).
        http: The gateway's upstream HTTP client (unused for stdio).
        eras: Remembers per server which era (legacy or 2026-07-28) worked last time.

    Raises:
        UpstreamUnavailableError: The upstream cannot be started or reached, or refused.
        UpstreamProtocolError: The upstream answered the handshake with garbage.
    """
    session: StdioSession | StreamableHttpSession | LegacySseSession
    if spec.transport == "stdio":
        session = StdioSession(spec, identity, on_unsolicited=on_unsolicited)
    elif spec.transport == "sse":
        session = LegacySseSession(spec, identity, on_unsolicited=on_unsolicited, http=http)
    else:
        session = StreamableHttpSession(
            spec, identity, on_unsolicited=on_unsolicited, http=http, eras=eras
        )
    try:
        await session.start()
    except BaseException:
        await session.aclose()
        raise
    return session
