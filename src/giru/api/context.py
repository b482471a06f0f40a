"""What the API's routes share: the store, the running gateway (`ApiRuntime`) and admin auth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from giru.api.auth import AdminAuth
from giru.store import Store, SyncResult

__all__ = ["ApiContext", "ApiRuntime", "ClientTool", "ToolProvider", "ToolQuota"]


class ToolProvider(TypedDict):
    server: str
    subscription: str | None


class ToolQuota(TypedDict):
    perDay: int | None
    perMonth: int | None
    usedToday: int | None
    usedThisMonth: int | None
    remainingToday: int | None
    remainingThisMonth: int | None


class ClientTool(TypedDict):
    """One tool in a client's compiled view, as `GET /api/v1/clients/{name}/tools` returns it."""

    name: str
    server: str
    tool: str
    description: str | None
    inputSchema: dict[str, Any]
    providedBy: ToolProvider
    quota: ToolQuota


class ApiRuntime(Protocol):
    """What only the running gateway knows; implemented by the app that mounts the API."""

    async def sync(self, server: str) -> SyncResult:
        """Fetch `server`'s tools/list now and record it in the store.

        Raises:
            NotFoundError: no such server.
            UpstreamUnavailableError: the server could not be reached.
        """
        ...

    async def client_tools(self, client: str) -> list[ClientTool]:
        """The tools `client` may call now (its compiled view), `server__tool` names sorted."""
        ...

    def notify(self) -> None:
        """A write was committed to the store: tell every worker to reload (must not block)."""
        ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    store: Store
    runtime: ApiRuntime
    auth: AdminAuth

    def committed(self) -> None:
        """Call after every successful write: workers reload, the admin key cache refreshes."""
        self.auth.invalidate()
        self.runtime.notify()
