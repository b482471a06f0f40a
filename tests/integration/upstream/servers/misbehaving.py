"""A hand-written stdio MCP server that misbehaves on demand (no SDK, so it can break the rules).

Tools: echo, garbage (prints a non-JSON line), exit (exits mid-call), html (prints HTML),
wrong_id (answers with an id nobody asked for, then the right one), flood (floods stderr),
deep (a result nested `depth` levels deep, 300 by default).
"""

from __future__ import annotations

import json
import sys
from typing import Any

_TOOLS = ("echo", "garbage", "exit", "wrong_id", "flood", "deep")


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _result(request_id: Any, result: dict[str, Any]) -> None:
    _send({"jsonrpc": "2.0", "id": request_id, "result": result})


def _text(request_id: Any, text: str) -> None:
    _result(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def _call(request_id: Any, name: str, arguments: dict[str, Any]) -> None:
    if name == "garbage":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
    elif name == "exit":
        sys.exit(int(arguments.get("code", 0)))
    elif name == "wrong_id":
        _send({"jsonrpc": "2.0", "id": 999_999, "result": {}})
        _text(request_id, "right")
    elif name == "flood":
        for n in range(5000):
            sys.stderr.write(f"noise line {n} " + "x" * 100 + "\n")
        sys.stderr.flush()
        _text(request_id, "flooded")
    elif name == "deep":
        nested: Any = {}
        for _ in range(int(arguments.get("depth", 300))):
            nested = {"a": nested}
        _result(request_id, {"content": [], "structuredContent": nested})
    else:
        _text(request_id, str(arguments.get("text", "")))


def _handle(message: dict[str, Any]) -> None:
    method, request_id = message.get("method"), message.get("id")
    params = message.get("params") or {}
    if method == "initialize":
        _result(
            request_id,
            {
                "protocolVersion": params.get("protocolVersion"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "misbehaving", "version": "0"},
            },
        )
    elif method == "tools/list":
        tools = [{"name": n, "inputSchema": {"type": "object"}} for n in _TOOLS]
        _result(request_id, {"tools": tools})
    elif method == "tools/call":
        _call(request_id, params["name"], params.get("arguments") or {})
    elif request_id is not None:
        _send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "no"}})


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            _handle(json.loads(line))


if __name__ == "__main__":
    main()
