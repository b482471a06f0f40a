"""The control loop: keeps the running gateway's config equal to what the store holds.

Every write through the API or a manifest directory commits to the store and publishes the new
store revision on the change bus (in-process, or Redis between workers); each worker then rereads
the store once and recompiles. A poll of the revision is the safety net for lost events, and a
timer recompiles when a subscription's validity window opens or closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import structlog
from pydantic import ValidationError as PydanticValidationError

from giru.access.grants import next_change
from giru.api.context import ClientTool, NoPolicyEngine, PolicyHooks, QuotaUse, ToolQuota
from giru.catalog.snapshot import ServerCatalog
from giru.errors import NotFoundError, StoreUnavailableError, UpstreamUnavailableError
from giru.limits import Limiter, QuotaPeriod
from giru.manifests.compiler import compile_config
from giru.manifests.config import Config, Located
from giru.manifests.documents import API_VERSION, KINDS
from giru.policy.replay import Recorded
from giru.proxy.endpoints import GLOBAL
from giru.proxy.gateway import Gateway
from giru.store import Store, SyncResult
from giru.store.events import ChangeBus

__all__ = ["Controller", "GatewayRuntime", "compile_documents", "tool_labels"]

_log = structlog.get_logger(__name__)
_MAX_TIMER_S = 3600.0

OnConfig = Callable[[Config], Awaitable[None]]


def compile_documents(
    documents: Sequence[tuple[str, str, dict[str, Any]]],
    keys: Mapping[str, tuple[str, ...]],
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[Config, list[str]]:
    """The runtime `Config` for the store's documents; objects that do not compile here (say, a
    `${VAR}` this process lacks) are left out and reported."""
    entries: list[Located] = []
    problems: list[str] = []
    for kind, name, spec in documents:
        raw = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
        try:
            entries.append(Located(f"store:{kind}/{name}", KINDS[kind].model_validate(raw)))
        except (KeyError, PydanticValidationError) as exc:
            problems.append(f"store:{kind}/{name}: no longer valid: {str(exc)[:300]}")
    config, found = compile_config(entries, environ=environ, tolerant=True)
    clients = {
        name: dataclasses.replace(client, key_hashes=tuple(keys.get(name, ())))
        for name, client in config.clients.items()
    }
    return dataclasses.replace(config, clients=MappingProxyType(clients)), problems + found


class Controller:
    """Loads the store into a `Config` and hands every new one to `on_config`."""

    def __init__(self, store: Store, bus: ChangeBus, on_config: OnConfig, *, poll_s: float):
        self.store = store
        self.bus = bus
        self.on_config = on_config
        self.poll_s = poll_s
        self.config = Config()
        self.problems: list[str] = []
        self.revision = -1
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()

    def committed(self) -> None:
        """Like `notify`, without waiting (for callers that must not block)."""
        self._dirty.set()

    async def load(self) -> Config:
        """Read the store now (at start: before anything serves)."""
        revision, documents, keys = await self.store.documents()
        config, problems = compile_documents(documents, keys)
        for problem in problems:
            _log.error("store_object_skipped", problem=problem)
        self.config, self.problems, self.revision = config, problems, revision
        self._wake.set()
        return config

    async def refresh(self) -> None:
        """Reload when the store's revision moved; serialised, so bursts coalesce."""
        async with self._lock:
            if await self.store.revision() == self.revision:
                return
            await self.on_config(await self.load())

    async def notify(self) -> None:
        """Something was committed: apply it here now and tell every other worker."""
        await self.refresh()
        await self.bus.publish(self.revision)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._listen())
            tasks.create_task(self._poll())
            tasks.create_task(self._timer())
            tasks.create_task(self._notifier())

    async def _notifier(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._safely(self.notify)

    async def _listen(self) -> None:
        async with self.bus.subscribe() as changes:
            async for _revision in changes:  # RESYNC or a revision: either way, compare
                await self._safely(self.refresh)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self._safely(self.refresh)

    async def _timer(self) -> None:
        """Recompile when a subscription starts or expires, and record expiries."""
        while True:
            self._wake.clear()
            now = datetime.now(UTC)
            moment = next_change(self.config, now)
            delay = _MAX_TIMER_S if moment is None else (moment - now).total_seconds()
            try:
                await asyncio.wait_for(self._wake.wait(), min(delay, _MAX_TIMER_S))
            except TimeoutError:
                await self._safely(self._boundary)

    async def _boundary(self) -> None:
        async with self._lock:
            await self.on_config(self.config)  # grants are computed against the new time
        await self._expire()

    async def _expire(self) -> None:
        expired = await self.store.expire_subscriptions()
        for name in expired:
            _log.info("subscription_expired", subscription=name)
        if expired:
            await self.notify()

    @staticmethod
    async def _safely(step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except StoreUnavailableError as exc:  # keep serving the last config; retried next time
            _log.warning("store_unavailable", error=exc.message)
        except Exception:  # noqa: BLE001 - the control loop must outlive a failed step
            _log.exception("control_step_failed")


def tool_labels(
    config: Config, server: str, tools: list[str]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Tags per tool (the server's own, then the tool's) and categories, from the MCPServer
    manifest."""
    declared = config.servers.get(server)
    if declared is None:
        return {}, {}
    tags: dict[str, list[str]] = {}
    categories: dict[str, str] = {}
    for tool in tools:
        meta = declared.tools.get(tool)
        tags[tool] = list(dict.fromkeys(declared.tags + (meta.tags if meta else ())))
        if meta is not None and meta.category is not None:
            categories[tool] = meta.category
    return tags, categories


class GatewayRuntime:
    """`giru.api.ApiRuntime` over this process's gateway; `policy` is its policy engine (none:
    every evaluation is `policy_unavailable`)."""

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        notify: Callable[[], None],
        config: Callable[[], Config],
        limiter: Limiter,
        *,
        policy: PolicyHooks | None = None,
    ) -> None:
        self._gateway = gateway
        self._limiter = limiter
        self._store = store
        self._notify = notify
        self._config = config
        self.policy: PolicyHooks = NoPolicyEngine() if policy is None else policy

    def notify(self) -> None:
        self._notify()

    async def evaluate_policy(self, input: dict[str, Any]) -> dict[str, Any]:
        return await self.policy.evaluate_policy(input)

    def policy_status(self) -> dict[str, Any]:
        return self.policy.policy_status()

    def policy_bundle(self) -> tuple[bytes, str]:
        return self.policy.policy_bundle()

    async def replay_policy(
        self, files: Mapping[str, str], calls: Sequence[Recorded]
    ) -> dict[str, Any]:
        return await self.policy.replay_policy(files, calls)

    async def record(self, catalog: ServerCatalog) -> SyncResult:
        """Write `catalog`'s tools to the store (hashes decide added/changed/removed)."""
        names = [t["name"] for t in catalog.tools]
        tags, categories = tool_labels(self._config(), catalog.server, names)
        return await self._store.sync_tools(
            catalog.server, catalog.tools, tags=tags, categories=categories
        )

    async def sync(self, server: str) -> SyncResult:
        """Fetch `server`'s lists now and record its tools.

        Raises:
            NotFoundError: no enabled server of that name.
            UpstreamUnavailableError: the server did not answer its lists.
        """
        if server not in self._gateway.pool.specs:
            raise NotFoundError(f"no enabled MCPServer named {server!r}")
        await self._gateway.catalogs.refresh(server)
        catalog = self._gateway.catalogs.by_server.get(server)
        if catalog is None or catalog.error is not None:
            reason = catalog.error if catalog is not None else "not connected"
            raise UpstreamUnavailableError(server, f"catalog sync failed: {reason}")
        return await self.record(catalog)

    async def client_tools(self, client: str) -> list[ClientTool]:
        """The tools `client` sees on `/mcp` right now, with the subscription granting each and
        that subscription's quota use."""
        gateway = self._gateway
        principal = gateway.authenticator.get(client)
        endpoint = gateway.endpoints.get(GLOBAL)
        if principal is None or endpoint is None:
            return []
        view = gateway.views.get(endpoint, principal, gateway.catalogs.by_server)
        out: list[ClientTool] = []
        for tool in view.tools:
            server, upstream_name = view.tool_routes[tool["name"]]
            granted = principal.subscription_for(server, upstream_name)
            out.append(
                {
                    "name": tool["name"],
                    "server": server,
                    "tool": upstream_name,
                    "description": tool.get("description"),
                    "inputSchema": tool.get("inputSchema") or {},
                    "providedBy": {"server": server, "subscription": granted},
                    "quota": await self._quota(granted),
                }
            )
        return sorted(out, key=lambda t: t["name"])

    async def quota_use(self) -> list[QuotaUse]:
        """Every quota of the active subscriptions, with the calls admitted in its period."""
        now = datetime.now(UTC)
        found: list[QuotaUse] = []
        for sub in self._config().subscriptions.values():
            spec = sub.spec
            periods: tuple[tuple[QuotaPeriod, int | None], ...] = (
                ("day", spec.quota_per_day),
                ("month", spec.quota_per_month),
            )
            if spec.status not in (None, "active") or all(q is None for _, q in periods):
                continue
            used = await self._limiter.quota_usage(sub.name, now)
            subject = spec.subject.model_dump(exclude_none=True) if spec.subject else None
            for (period, limit), count in zip(periods, used, strict=True):
                if limit is not None:
                    found.append(
                        {
                            "subscription": sub.name,
                            "client": spec.client,
                            "subject": subject,
                            "server": spec.server,
                            "period": period,
                            "limit": limit,
                            "used": count,
                        }
                    )
        return found

    async def _quota(self, subscription: str | None) -> ToolQuota:
        sub = self._config().subscriptions.get(subscription) if subscription else None
        per_day = sub.spec.quota_per_day if sub else None
        per_month = sub.spec.quota_per_month if sub else None
        if sub is None or (per_day is None and per_month is None):
            return _no_quota(per_day, per_month)
        day, month = await self._limiter.quota_usage(sub.name, datetime.now(UTC))
        return {
            "perDay": per_day,
            "perMonth": per_month,
            "usedToday": day,
            "usedThisMonth": month,
            "remainingToday": max(0, per_day - day) if per_day is not None else None,
            "remainingThisMonth": max(0, per_month - month) if per_month is not None else None,
        }


def _no_quota(per_day: int | None, per_month: int | None) -> ToolQuota:
    return {
        "perDay": per_day,
        "perMonth": per_month,
        "usedToday": None,
        "usedThisMonth": None,
        "remainingToday": None,
        "remainingThisMonth": None,
    }
