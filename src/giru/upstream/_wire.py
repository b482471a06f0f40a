"""Reading upstream messages: strict parsing; errors carry a hash, never the payload."""

from __future__ import annotations

import hashlib
from typing import Any, Final

from giru.errors import UpstreamProtocolError
from giru.mcp.jsonrpc import JsonRpcError, Message, parse_message

__all__ = ["MAX_MESSAGE_BYTES", "digest", "parse_upstream", "protocol_error"]

MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""The largest single message (stdio line, HTTP body, SSE event) accepted from an upstream."""


def digest(payload: bytes) -> dict[str, Any]:
    """What an error may say about an offending payload: its hash and size, never its bytes."""
    return {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}


def protocol_error(server: str, message: str, payload: bytes = b"") -> UpstreamProtocolError:
    return UpstreamProtocolError(server, message, data={"reason": message, **digest(payload)})


def parse_upstream(server: str, body: bytes) -> Message:
    """Parse one JSON-RPC message from an upstream or raise `UpstreamProtocolError`."""
    try:
        return parse_message(body)
    except JsonRpcError as exc:
        raise protocol_error(
            server, f"invalid JSON-RPC from upstream: {exc.message}", body
        ) from exc
