"""What a legacy (2025-11-25 and older) upstream gets in `_meta` instead of a modern client's:
the log level as a per-request opt-in, and no `io.modelcontextprotocol/` envelope keys."""

from __future__ import annotations

from typing import Any, Final

from giru.mcp.versions import META_LOG_LEVEL

__all__ = ["with_log_level", "without_envelope"]

_RESERVED_META: Final = "io.modelcontextprotocol/"
_TRACE_CONTEXT: Final = frozenset({"traceparent", "tracestate"})


def with_log_level(params: dict[str, Any] | None, level: str) -> dict[str, Any]:
    """A legacy client's `logging/setLevel`, as the per-request opt-in a modern upstream reads."""
    params = dict(params or {})
    meta = params.get("_meta")
    params["_meta"] = {**(meta if isinstance(meta, dict) else {}), META_LOG_LEVEL: level}
    return params


def without_envelope(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop a modern client's `_meta` envelope before it reaches a legacy upstream."""
    meta = (params or {}).get("_meta")
    if params is None or not isinstance(meta, dict) or meta.keys() <= _TRACE_CONTEXT:
        return params  # most: no `_meta`, or a traced call's trace context alone
    for key in meta:  # most of the rest carry none: no copy
        if key.startswith(_RESERVED_META):
            break
    else:
        return params
    kept = {k: v for k, v in meta.items() if not k.startswith(_RESERVED_META)}
    trimmed = {**params, "_meta": kept}
    if not kept:
        del trimmed["_meta"]
    return trimmed
