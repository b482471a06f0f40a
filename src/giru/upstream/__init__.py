"""Connectors to upstream MCP servers (stdio, Streamable HTTP, legacy HTTP+SSE)."""

from giru.upstream._handshake import EraCache
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec, Timeouts, UpstreamSession
from giru.upstream.connect import connect
from giru.upstream.http import StreamableHttpSession
from giru.upstream.sse import LegacySseSession
from giru.upstream.stdio import StdioSession

__all__ = [
    "ClientIdentity",
    "EraCache",
    "LegacySseSession",
    "MessageSink",
    "ServerSpec",
    "StdioSession",
    "StreamableHttpSession",
    "Timeouts",
    "UpstreamSession",
    "connect",
]
