"""A hand-written stdio MCP server that records every `tools/call` it receives in a ledger file.

`python ledger.py LEDGER_PATH`. Each call appends one JSON line `{"id": ..., "name": ...}` to
LEDGER_PATH *before* doing anything else, so a test can prove that a rejected request never had
an upstream side effect (BAD-INPUT: "reject before any upstream side effect").

Tools: touch (answers `text`), strict (an `inputSchema` with required / enum / maxLength /
additionalProperties:false), send_email and send_emaiI (a confusable pair), hang (never
answers), big (a result line over 16 MiB), blocks (more content blocks than the gateway
accepts), wrong_id (a response for an id nobody asked, then the right one, then a duplicate).
tools/list also offers names outside the MCP tool-name set, which the gateway must drop at
catalogue time.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_STRICT_SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "colour": {"type": "string", "enum": ["red", "blue"]},
        "note": {"type": "string", "maxLength": 8},
    },
    "required": ["n"],
    "additionalProperties": False,
}
_GOOD = ("touch", "hang", "big", "blocks", "wrong_id", "send_email", "send_emaiI")
BAD_NAMES = (
    "../../etc",
    "a/b",
    "files.read%2f..",
    "with space",
    "a,b",
    "x" * 129,
    "",
    "s\u0435nd",  # Cyrillic ie
    "send\u200bmail",  # zero-width space
    "\u202eliame",  # right-to-left override
    "\uff53end",  # fullwidth s
)


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _result(request_id: Any, result: dict[str, Any]) -> None:
    _send({"jsonrpc": "2.0", "id": request_id, "result": result})


def _text(request_id: Any, text: str) -> None:
    _result(request_id, {"content": [{"type": "text", "text": text}], "isError": False})


def _tools() -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = [
        {"name": name, "inputSchema": {"type": "object"}} for name in (*_GOOD, *BAD_NAMES)
    ]
    tools.append({"name": "strict", "inputSchema": _STRICT_SCHEMA})
    return tools


def _call(request_id: Any, name: str, arguments: dict[str, Any]) -> None:
    if name == "hang":
        return
    if name == "big":
        _text(request_id, "x" * (17 * 1024 * 1024))
    elif name == "blocks":
        block = {"type": "text", "text": ""}
        _result(request_id, {"content": [block] * 150_000, "isError": False})
    elif name == "wrong_id":
        _send({"jsonrpc": "2.0", "id": 987_654, "result": {"content": [], "isError": False}})
        _text(request_id, "right")
        _text(request_id, "duplicate")
    else:
        _text(request_id, str(arguments.get("text", name)))


def _handle(message: dict[str, Any], ledger: str) -> None:
    method, request_id = message.get("method"), message.get("id")
    params = message.get("params") or {}
    if method == "initialize":
        info = {"name": "ledger", "version": "0"}
        capabilities: dict[str, Any] = {"tools": {}}
        version = params.get("protocolVersion")
        _result(
            request_id,
            {"protocolVersion": version, "capabilities": capabilities, "serverInfo": info},
        )
    elif method == "tools/list":
        _result(request_id, {"tools": _tools()})
    elif method == "tools/call":
        with open(ledger, "a", encoding="utf-8") as sink:
            sink.write(json.dumps({"id": request_id, "name": params.get("name")}) + "\n")
        _call(request_id, params["name"], params.get("arguments") or {})
    elif method == "ping":
        _result(request_id, {})
    elif request_id is not None:
        error = {"code": -32601, "message": "Method not found"}
        _send({"jsonrpc": "2.0", "id": request_id, "error": error})


def main() -> None:
    ledger = sys.argv[1]
    for line in sys.stdin:
        if line.strip():
            _handle(json.loads(line), ledger)


if __name__ == "__main__":
    main()
