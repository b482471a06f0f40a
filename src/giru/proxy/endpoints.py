"""Client-facing endpoints (`/mcp` and one per virtual server) and the views they serve."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from giru.access.grants import Rate, SubscriptionLimits
from giru.catalog.search import LazyIndex, ToolDocument, ToolSearch, ToolTags, document_of
from giru.catalog.snapshot import ServerCatalog
from giru.catalog.views import SEPARATOR, View, build_view
from giru.manifests.discovery import SearchConfig

__all__ = ["ANONYMOUS", "GLOBAL", "Endpoint", "Principal", "Revoked", "ViewCache"]

GLOBAL = ""
"""The name of the aggregated `/mcp` endpoint."""


class Principal(Protocol):
    """An authenticated caller, as the data path needs it."""

    @property
    def name(self) -> str: ...

    def allows_server(self, server: str) -> bool: ...

    def allows_tool(self, server: str, tool: str) -> bool: ...

    def subscription_for(self, server: str, tool: str) -> str | None: ...

    def limits_of(self, subscription: str) -> SubscriptionLimits | None: ...

    @property
    def rate(self) -> Rate | None:
        """The caller's own rate limit over all its calls."""
        ...


@dataclass(frozen=True, slots=True)
class _Ungoverned:
    """A caller with no subscriptions and no limits of its own."""

    name: str

    def subscription_for(self, server: str, tool: str) -> str | None:
        return None

    def limits_of(self, subscription: str) -> SubscriptionLimits | None:
        return None

    @property
    def rate(self) -> Rate | None:
        return None


@dataclass(frozen=True, slots=True)
class _Anonymous(_Ungoverned):
    """The caller on an endpoint with `auth: none`: whatever the endpoint offers."""

    name: str = "anonymous"

    def allows_server(self, server: str) -> bool:
        return True

    def allows_tool(self, server: str, tool: str) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Revoked(_Ungoverned):
    """A session's client that no longer exists: it may use nothing."""

    def allows_server(self, server: str) -> bool:
        return False

    def allows_tool(self, server: str, tool: str) -> bool:
        return False


ANONYMOUS = _Anonymous()


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    servers: tuple[str, ...]
    tools: frozenset[tuple[str, str]] = frozenset()
    prefix: bool = True
    auth: str = "apiKey"
    search: SearchConfig | None = None
    """`discovery: search` (None: tools/list lists every tool)."""
    tags: ToolTags = field(default_factory=ToolTags, compare=False)
    """What a search matches besides names and descriptions."""

    def offers(self, server: str, tool: str) -> bool:
        return server in self.servers or (server, tool) in self.tools

    @property
    def all_servers(self) -> tuple[str, ...]:
        extra = tuple(sorted({s for s, _ in self.tools} - set(self.servers)))
        return self.servers + extra

    @property
    def path(self) -> str:
        return "/mcp" if self.name == GLOBAL else f"/mcp/{self.name}"

    @property
    def legacy_path(self) -> str:
        """Where 2024-11-05 clients open this endpoint's SSE stream."""
        return "/sse" if self.name == GLOBAL else f"/mcp/{self.name}/sse"

    @property
    def resource_paths(self) -> tuple[str, str]:
        """The paths whose URLs are this endpoint's OAuth resource (an access token's `aud`)."""
        return (self.path, self.legacy_path)


def split_ref(ref: str) -> tuple[str, str]:
    server, _, tool = ref.partition(SEPARATOR)
    return server, tool


class ViewCache:
    """Views by (endpoint, principal), dropped whenever a catalog or the config changes. A
    person's view is also keyed by their groups: a token with other groups sees other grants.

    A search endpoint's index covers everything the endpoint offers, is shared by every
    principal's view and outlives `clear()` while the indexed text stays the same (a periodic
    sync that finds no change rebuilds nothing)."""

    def __init__(self) -> None:
        self._views: dict[tuple[str, str, tuple[str, ...]], View] = {}
        self._searches: dict[str, ToolSearch] = {}
        self._indexes: dict[str, LazyIndex] = {}

    def clear(self, endpoints: Collection[str] | None = None) -> None:
        """Drop every view; `endpoints` (after a config change): the endpoints that still
        exist, whose search indexes may be kept."""
        self._views.clear()
        self._searches.clear()
        if endpoints is not None:
            self._indexes = {k: v for k, v in self._indexes.items() if k in endpoints}

    def get(
        self, endpoint: Endpoint, principal: Principal, catalogs: Mapping[str, ServerCatalog]
    ) -> View:
        person = getattr(principal, "person", None)
        key = (endpoint.name, principal.name, person.groups if person is not None else ())
        view = self._views.get(key)
        if view is None:
            view = self._build(endpoint, principal, catalogs, self._search(endpoint, catalogs))
            self._views[key] = view
        return view

    def _search(
        self, endpoint: Endpoint, catalogs: Mapping[str, ServerCatalog]
    ) -> ToolSearch | None:
        if endpoint.search is None:
            return None
        found = self._searches.get(endpoint.name)
        if found is None:
            documents = _documents(endpoint, catalogs)
            index = self._indexes.get(endpoint.name)
            if index is None or index.documents != documents:
                index = self._indexes[endpoint.name] = LazyIndex(documents)
            found = ToolSearch(index, endpoint.search.always_list, endpoint.search.limit)
            self._searches[endpoint.name] = found
        return found

    @staticmethod
    def _build(
        endpoint: Endpoint,
        principal: Principal,
        catalogs: Mapping[str, ServerCatalog],
        search: ToolSearch | None,
    ) -> View:
        def allow(server: str, tool: str) -> bool:
            return endpoint.offers(server, tool) and principal.allows_tool(server, tool)

        def visible(catalog: ServerCatalog) -> bool:
            if principal.allows_server(catalog.server):
                return True
            return any(allow(catalog.server, t["name"]) for t in catalog.tools)

        servers = [catalogs[s] for s in endpoint.all_servers if s in catalogs]
        return build_view(
            [c for c in servers if visible(c)],
            prefix=endpoint.prefix,
            allow_tool=allow,
            search=search,
            subscription_of=principal.subscription_for,
        )


def _documents(
    endpoint: Endpoint, catalogs: Mapping[str, ServerCatalog]
) -> tuple[ToolDocument, ...]:
    """Every tool `endpoint` offers, in catalog order, as the search index sees it."""
    return tuple(
        document_of(server, tool, endpoint.tags.of(server, tool["name"]))
        for server in endpoint.all_servers
        if server in catalogs
        for tool in catalogs[server].tools
        if endpoint.offers(server, tool["name"])
    )
