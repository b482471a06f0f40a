"""Gateway-minted pagination cursors over an aggregated list, sealed for the caller.

Upstream cursors never reach a client (the catalog sync reads every page itself). Giru's own
cursor is an offset into the caller's list, sealed in Giru's envelope for the caller, endpoint
and list method, so it is opaque, tamper-evident and useless to anyone else.
"""

from __future__ import annotations

from typing import Any, Final

from giru.proxy.envelopes import Binding, EnvelopeError, Envelopes, RefusedValueError

__all__ = ["CURSOR_TTL_S", "Cursors"]

CURSOR_TTL_S: Final = 3600.0
_KIND: Final = "cursor"


class Cursors:
    def __init__(self, envelopes: Envelopes) -> None:
        self._envelopes = envelopes

    def page(
        self,
        items: tuple[dict[str, Any], ...],
        key: str,
        params: dict[str, Any] | None,
        size: int,
        binding: Binding,
    ) -> dict[str, Any]:
        """One page of `items` as the result of a list method, with `nextCursor` when more
        remain.

        Raises:
            RefusedValueError: a cursor Giru did not hand this caller for this list.
        """
        cursor = (params or {}).get("cursor")
        offset = self._offset(cursor, key, binding) if cursor is not None else 0
        result: dict[str, Any] = {key: list(items[offset : offset + size])}
        if offset + size < len(items):
            position = {"list": key, "offset": offset + size}
            result["nextCursor"] = self._envelopes.seal(_KIND, position, binding, CURSOR_TTL_S)
        return result

    def _offset(self, cursor: object, key: str, binding: Binding) -> int:
        try:
            position = self._envelopes.open(_KIND, cursor, binding)
        except EnvelopeError as exc:
            raise RefusedValueError(_KIND, exc.reason) from exc
        if not isinstance(position, dict) or position.get("list") != key:
            raise RefusedValueError(_KIND, "malformed")
        offset = position.get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise RefusedValueError(_KIND, "malformed")
        return offset
