"""Gateway-minted pagination cursors over an aggregated list (opaque to clients)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError

__all__ = ["page"]


def page(
    items: tuple[dict[str, Any], ...], key: str, params: dict[str, Any] | None, size: int
) -> dict[str, Any]:
    """One page of `items` as the result of a list method, with `nextCursor` when more remain."""
    cursor = (params or {}).get("cursor")
    offset = _decode(key, cursor) if cursor is not None else 0
    result: dict[str, Any] = {key: list(items[offset : offset + size])}
    if offset + size < len(items):
        result["nextCursor"] = _encode(key, offset + size)
    return result


def _encode(key: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"giru:{key}:{offset}".encode()).decode()


def _decode(key: str, cursor: object) -> int:
    try:
        if not isinstance(cursor, str) or len(cursor) > 128:
            raise ValueError(cursor)
        prefix, kind, offset = base64.urlsafe_b64decode(cursor).decode().split(":")
        if prefix != "giru" or kind != key or not offset.isdigit():
            raise ValueError(cursor)
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise JsonRpcError(INVALID_PARAMS, "Invalid cursor") from exc
