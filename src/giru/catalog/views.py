"""A client's compiled view of the aggregated catalog: what it may list, where each name routes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from giru.catalog.arguments import ArgumentsValidator
from giru.catalog.names import skeleton
from giru.catalog.search import Route, ToolSearch
from giru.catalog.snapshot import HeldTool, ServerCatalog
from giru.mcp.headers import ParamHeader

__all__ = ["SEPARATOR", "Alternate", "Route", "View", "build_view", "exposed_name"]

SEPARATOR: Final = "__"
_MAX_EXPOSED: Final = 128

Alternate = tuple[Route, ArgumentsValidator | None]
"""Another server's tool of the same unprefixed name, reachable with `_giru.prefer_mcp`."""

ToolFilter = Callable[[str, str], bool]


def exposed_name(server: str, name: str, *, prefix: bool) -> str:
    return f"{server}{SEPARATOR}{name}" if prefix else name


@dataclass(frozen=True, slots=True)
class View:
    """Everything one (endpoint, client) pair sees; built on change, read per request."""

    servers: tuple[str, ...]
    prefix: bool
    tools: tuple[dict[str, Any], ...] = ()
    prompts: tuple[dict[str, Any], ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    templates: tuple[dict[str, Any], ...] = ()
    tool_routes: Mapping[str, Route] = field(default_factory=dict)
    prompt_routes: Mapping[str, Route] = field(default_factory=dict)
    resource_routes: Mapping[str, str] = field(default_factory=dict)
    template_routes: tuple[tuple[str, str], ...] = ()
    tool_params: Mapping[str, tuple[ParamHeader, ...]] = field(default_factory=dict)
    tool_validators: Mapping[str, ArgumentsValidator] = field(default_factory=dict)
    tool_alternates: Mapping[tuple[str, str], Alternate] = field(default_factory=dict)
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    tool_route_list: tuple[tuple[str, str, str], ...] = ()
    """(listed name, server, upstream tool name) of every listed tool, in list order."""
    tool_by_route: Mapping[Route, dict[str, Any]] = field(default_factory=dict)
    """Each listed tool's definition (under its listed name) by its route."""
    tool_subscriptions: Mapping[str, str] = field(default_factory=dict)
    """The subscription granting each listed tool to this view's client, by listed name (a tool
    left out: a standing grant or none), what tools/list visibility reads."""
    search: ToolSearch | None = None
    """`discovery: search`: tools/list offers a few tools and `search_tools` finds the rest."""
    tool_holds: Mapping[str, tuple[Route, HeldTool]] = field(default_factory=dict)
    """Tools this client may call that are held for review (tool trust), by exposed name: a
    call gets a clear refusal naming the pending change, not "unknown tool"."""

    def route_resource(self, uri: str) -> str | None:
        """The server owning `uri`: an exact listed resource, else the longest template prefix."""
        server = self.resource_routes.get(uri)
        if server is not None:
            return server
        matches = [(len(p), s) for p, s in self.template_routes if p and uri.startswith(p)]
        if matches:
            return max(matches)[1]
        return self.servers[0] if len(self.servers) == 1 else None


def build_view(
    catalogs: Iterable[ServerCatalog],
    *,
    prefix: bool,
    allow_tool: ToolFilter,
    search: ToolSearch | None = None,
    subscription_of: Callable[[str, str], str | None] | None = None,
) -> View:
    """Merge server catalogs into one namespace; the first server wins a name collision.
    `subscription_of(server, tool)`: the subscription granting a tool (`tool_subscriptions`)."""
    tools: list[dict[str, Any]] = []
    prompts: list[dict[str, Any]] = []
    tool_routes: dict[str, Route] = {}
    shapes: set[str] = set()
    prompt_shapes: set[str] = set()
    tool_params: dict[str, tuple[ParamHeader, ...]] = {}
    tool_validators: dict[str, ArgumentsValidator] = {}
    alternates: dict[tuple[str, str], Alternate] = {}
    prompt_routes: dict[str, Route] = {}
    resources: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    resource_routes: dict[str, str] = {}
    template_routes: list[tuple[str, str]] = []
    servers: list[str] = []
    capabilities: list[Mapping[str, Any]] = []
    holds: dict[str, tuple[Route, HeldTool]] = {}
    for catalog in catalogs:
        holds.update(_holds(catalog, prefix, allow_tool))
        servers.append(catalog.server)
        capabilities.append(catalog.capabilities)
        for tool in catalog.tools:
            if allow_tool(catalog.server, tool["name"]):
                exposed = _expose(tool, catalog.server, prefix, tools, tool_routes, shapes)
                if exposed is None:
                    if not prefix and tool["name"] in tool_routes:
                        route = (catalog.server, tool["name"])
                        alternates[route] = (route, catalog.validators.get(tool["name"]))
                    continue
                declared = catalog.param_headers.get(tool["name"])
                if declared:
                    tool_params[exposed] = declared
                validator = catalog.validators.get(tool["name"])
                if validator is not None:
                    tool_validators[exposed] = validator
        for prompt in catalog.prompts:
            _expose(prompt, catalog.server, prefix, prompts, prompt_routes, prompt_shapes)
        for resource in catalog.resources:
            if resource["uri"] not in resource_routes:
                resource_routes[resource["uri"]] = catalog.server
                resources.append(resource)
        for template in catalog.templates:
            templates.append(template)
            template_routes.append((template["uriTemplate"].split("{", 1)[0], catalog.server))
    route_list = tuple(
        (t["name"], *tool_routes[t["name"]]) for t in tools if t["name"] in tool_routes
    )
    return View(
        servers=tuple(servers),
        prefix=prefix,
        tools=tuple(tools),
        prompts=tuple(prompts),
        resources=tuple(resources),
        templates=tuple(templates),
        tool_routes=tool_routes,
        prompt_routes=prompt_routes,
        resource_routes=resource_routes,
        template_routes=tuple(template_routes),
        tool_params=tool_params,
        tool_validators=tool_validators,
        tool_alternates=alternates,
        capabilities=_capabilities(capabilities),
        tool_route_list=route_list,
        tool_by_route={tool_routes[t["name"]]: t for t in tools},
        tool_subscriptions=_subscriptions(route_list, subscription_of),
        search=search,
        tool_holds={name: hold for name, hold in holds.items() if name not in tool_routes},
    )


def _subscriptions(
    routes: Iterable[tuple[str, str, str]], subscription_of: Callable[[str, str], str | None] | None
) -> dict[str, str]:
    found: dict[str, str] = {}
    if subscription_of is not None:
        for name, server, tool in routes:
            subscription = subscription_of(server, tool)
            if subscription is not None:
                found[name] = subscription
    return found


def _holds(
    catalog: ServerCatalog, prefix: bool, allow_tool: ToolFilter
) -> dict[str, tuple[Route, HeldTool]]:
    return {
        exposed_name(catalog.server, name, prefix=prefix): ((catalog.server, name), hold)
        for name, hold in catalog.held.items()
        if allow_tool(catalog.server, name)
    }


def _expose(
    item: dict[str, Any],
    server: str,
    prefix: bool,
    out: list[dict[str, Any]],
    routes: dict[str, Route],
    shapes: set[str],
) -> str | None:
    """Offer `item` under its exposed name unless taken, too long, or a look-alike of one
    already offered (possible shadowing, BAD-INPUT M6)."""
    name = exposed_name(server, item["name"], prefix=prefix)
    shape = skeleton(name)
    if name in routes or len(name) > _MAX_EXPOSED or shape in shapes:
        return None
    routes[name] = (server, item["name"])
    shapes.add(shape)
    out.append(item if not prefix else {**item, "name": name})
    return name


def _capabilities(upstream: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The union of the upstreams' capabilities; the gateway always announces list changes.

    `tools` is always offered (possibly an empty list): a virtual server is a set of tools, and
    an upstream that was down, or declared nothing, at connect time may list tools later."""
    caps: dict[str, Any] = {"tools": {}}
    for name in ("tools", "prompts", "resources", "completions", "logging"):
        if any(name in c for c in upstream):
            caps[name] = {}
    for name in ("tools", "prompts", "resources"):
        if name in caps:
            caps[name]["listChanged"] = True
    if any((c.get("resources") or {}).get("subscribe") for c in upstream):
        caps["resources"]["subscribe"] = True
    return caps
