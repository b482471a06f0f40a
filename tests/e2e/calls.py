"""2026-07-28 `tools/call` and `tools/list` requests as raw HTTP: body and headers (the
end-to-end tests' load)."""

from __future__ import annotations

from typing import Any

import orjson

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def tool_call(
    key: str, name: str, arguments: dict[str, Any], id: int
) -> tuple[bytes, dict[str, str]]:
    params = {"name": name, "arguments": arguments, "_meta": META}
    body = orjson.dumps({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    return body, headers


def tool_list(key: str, id: int) -> tuple[bytes, dict[str, str]]:
    """A 2026-07-28 `tools/list` as raw HTTP: body and headers."""
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": META}}
    )
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/list",
    }
    return body, headers
