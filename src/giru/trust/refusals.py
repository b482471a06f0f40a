"""The answer to a call of a tool held for review: a JSON-RPC error that names the server, the
tool and the pending change (never "unknown tool": the caller may call it once approved)."""

from __future__ import annotations

from typing import Any, Final

from giru.catalog.snapshot import HeldTool
from giru.mcp.jsonrpc import JsonRpcError

__all__ = ["TOOL_HELD", "held_refusal"]

TOOL_HELD: Final = -31409
"""JSON-RPC error code of a call to a held tool (HTTP 403 in the 2026-07-28 era)."""

_VERBS: Final = {"added": "added", "changed": "changed", "removed": "removed"}


def held_refusal(name: str, server: str, tool: str, hold: HeldTool, id: Any) -> JsonRpcError:
    """The refusal of a call to `name` (`server`'s `tool`), held as `hold` says."""
    change = _VERBS.get(hold.change, "changed")
    if hold.state == "rejected":
        text = (
            f"Tool {name} is unavailable: an administrator rejected the definition server "
            f"{server!r} now offers for {tool!r} ({change}); it stays held until the server "
            "offers the approved one"
        )
    elif hold.state == "unrecorded":
        text = (
            f"Tool {name} is held: server {server!r} {change} tool {tool!r} and Giru could not "
            "record the change for review yet"
        )
    else:
        text = (
            f"Tool {name} is held for review: server {server!r} {change} tool {tool!r}; the "
            f"change is pending until an administrator approves it (giru tools approve "
            f"{server} {tool})"
        )
    data = {
        "reason": "tool_held",
        "server": server,
        "tool": tool,
        "change": hold.change,
        "state": hold.state,
    }
    return JsonRpcError(TOOL_HELD, text, id=id, data=data, http_status=403)
