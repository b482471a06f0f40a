"""Resource subscriptions of client sessions, kept by Giru: which legacy client session wants
`notifications/resources/updated` for which upstream resource, and the delivery of each update.

A shared upstream session serves many clients, so an update it sends belongs to the sessions
that subscribed to that resource, not to everyone. A 2026-07-28 upstream has no
`resources/subscribe`: Giru asks it for updates on its `subscriptions/listen` stream instead
(`ResourceWatcher`) with the URIs its clients want, and answers the client's RPC itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import structlog

from giru.errors import GiruError

if TYPE_CHECKING:
    from giru.proxy.upstreams import Owner

__all__ = ["ResourceWatch"]

_log = structlog.get_logger(__name__)
_MAX_PER_SERVER: Final = 1024
"""Distinct URIs watched per server (every client together): a bound on the listen filter."""


class ResourceWatch:
    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], dict[str, Owner]] = {}

    def add(self, server: str, uri: str, owner: Owner) -> bool:
        """False when the server already has the most URIs watched and this one is new."""
        key = (server, uri)
        if key not in self._owners and len(self.uris(server)) >= _MAX_PER_SERVER:
            return False
        self._owners.setdefault(key, {})[owner.id] = owner
        return True

    def remove(self, server: str, uri: str, owner_id: str) -> None:
        owners = self._owners.get((server, uri))
        if owners is not None:
            owners.pop(owner_id, None)
            if not owners:
                del self._owners[(server, uri)]

    def uris(self, server: str) -> frozenset[str]:
        return frozenset(uri for s, uri in self._owners if s == server)

    def forget(self, owner_id: str) -> set[str]:
        """Drop an ended client session's subscriptions; the servers whose URIs changed."""
        changed: set[str] = set()
        for (server, uri), owners in list(self._owners.items()):
            if owners.pop(owner_id, None) is not None:
                changed.add(server)
                if not owners:
                    del self._owners[(server, uri)]
        return changed

    async def deliver(self, server: str, message: Mapping[str, Any]) -> None:
        """An upstream's `notifications/resources/updated` to the sessions that subscribed to
        that resource (or to one it is part of, as the specification allows)."""
        params = message.get("params")
        uri = params.get("uri") if isinstance(params, Mapping) else None
        if not isinstance(uri, str):
            return
        for (watched_server, watched), owners in list(self._owners.items()):
            if watched_server != server or not (uri == watched or uri.startswith(watched)):
                continue
            for owner in list(owners.values()):
                try:
                    await owner.sink(dict(message))
                except GiruError as exc:
                    _log.info("resource_update_undelivered", server=server, reason=exc.code)
