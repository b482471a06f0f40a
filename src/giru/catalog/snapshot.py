"""What one upstream server offers, as fetched from its list methods (immutable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import structlog

from giru.catalog.arguments import ArgumentsValidator, compile_arguments, remote_refs
from giru.catalog.names import skeleton, valid_tool_name
from giru.errors import UpstreamProtocolError, ValidationError
from giru.mcp.headers import ParamHeader, param_headers
from giru.upstream.base import UpstreamSession

__all__ = ["HeldTool", "ServerCatalog", "changed_lists", "fetch_catalog", "without_lookalikes"]

_log = structlog.get_logger(__name__)
_MAX_PAGES: Final = 100
_LISTS: Final = (
    ("tools", "tools/list", "tools"),
    ("prompts", "prompts/list", "prompts"),
    ("resources", "resources/list", "resources"),
    ("templates", "resources/templates/list", "resourceTemplates"),
)


@dataclass(frozen=True, slots=True)
class HeldTool:
    """A tool the server lists that is not served: a change to it awaits review, was rejected,
    or could not be recorded (docs/tool-trust.md)."""

    change: str
    """`added`, `changed` or `removed`."""
    state: str
    """`pending`, `rejected` or `unrecorded`."""


@dataclass(frozen=True, slots=True)
class ServerCatalog:
    server: str
    capabilities: dict[str, Any] = field(default_factory=dict)
    server_info: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    prompts: tuple[dict[str, Any], ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    templates: tuple[dict[str, Any], ...] = ()
    param_headers: Mapping[str, tuple[ParamHeader, ...]] = field(default_factory=dict)
    validators: Mapping[str, ArgumentsValidator] = field(default_factory=dict)
    error: str | None = None
    held: Mapping[str, HeldTool] = field(default_factory=dict)
    """Listed tools left out of `tools` until an administrator approves them (tool trust)."""


def changed_lists(before: ServerCatalog, after: ServerCatalog) -> list[str]:
    """The list_changed notifications that tell a client what differs between two catalogs."""
    changed = []
    if before.tools != after.tools:
        changed.append("notifications/tools/list_changed")
    if before.prompts != after.prompts:
        changed.append("notifications/prompts/list_changed")
    if (before.resources, before.templates) != (after.resources, after.templates):
        changed.append("notifications/resources/list_changed")
    return changed


async def fetch_catalog(session: UpstreamSession) -> ServerCatalog:
    """Page through every list method the server declares; drop definitions that are unsafe.
    Look-alike names are kept here: tool trust holds an unapproved one for review with a
    finding, then `without_lookalikes` serves only the first of those left."""
    init = session.initialize_result
    capabilities = init.get("capabilities") or {}
    lists: dict[str, tuple[dict[str, Any], ...]] = {}
    for attr, method, key in _LISTS:
        capability = "resources" if attr == "templates" else attr
        if capability in capabilities:
            lists[attr] = await _fetch_all(session, method, key)
    tools = tuple(t for t in lists.get("tools", ()) if _keep_tool(session.server, t))
    annotated = {t["name"]: param_headers(t["inputSchema"]) for t in tools}
    compiled = {t["name"]: compile_arguments(t["inputSchema"]) for t in tools}
    return ServerCatalog(
        param_headers={name: found for name, found in annotated.items() if found},
        validators={name: v for name, v in compiled.items() if v is not None},
        server=session.server,
        capabilities=capabilities,
        server_info=init.get("serverInfo") or {},
        instructions=init.get("instructions"),
        tools=tools,
        prompts=tuple(p for p in lists.get("prompts", ()) if isinstance(p.get("name"), str)),
        resources=tuple(r for r in lists.get("resources", ()) if isinstance(r.get("uri"), str)),
        templates=tuple(
            t for t in lists.get("templates", ()) if isinstance(t.get("uriTemplate"), str)
        ),
    )


async def _fetch_all(session: UpstreamSession, method: str, key: str) -> tuple[dict[str, Any], ...]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        response = await session.request(method, {"cursor": cursor} if cursor else None)
        if "error" in response:
            if response["error"].get("code") == -32601:  # declared but not implemented
                return ()
            raise UpstreamProtocolError(session.server, f"{method} failed: {response['error']}")
        result = response.get("result") or {}
        page = result.get(key)
        if not isinstance(page, list):
            raise UpstreamProtocolError(session.server, f"{method} result has no {key} list")
        items.extend(item for item in page if isinstance(item, dict))
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return tuple(items)


def without_lookalikes(catalog: ServerCatalog) -> ServerCatalog:
    """`catalog` serving only the first of tools whose names look alike: a later one may shadow
    it (M6). Applied to what tool trust serves, so an approved tool is not pushed out by an
    unapproved look-alike listed before it (that one is held for review, with a finding)."""
    seen: dict[str, str] = {}
    kept: list[dict[str, Any]] = []
    for tool in catalog.tools:
        shape = skeleton(tool["name"])
        if shape in seen:
            _log.warning(
                "upstream_tool_rejected",
                server=catalog.server,
                reason=f"looks like {seen[shape]!r}",
                name=tool["name"],
            )
            continue
        seen[shape] = tool["name"]
        kept.append(tool)
    if len(kept) == len(catalog.tools):
        return catalog
    return replace(catalog, tools=tuple(kept))


def _keep_tool(server: str, tool: dict[str, Any]) -> bool:
    name = tool.get("name")
    if not valid_tool_name(name):
        _log.warning(
            "upstream_tool_rejected", server=server, reason="invalid name", name=repr(name)[:80]
        )
        return False
    if not isinstance(tool.get("inputSchema"), dict):
        _log.warning("upstream_tool_rejected", server=server, reason="no inputSchema", name=name)
        return False
    remote = next(remote_refs(tool["inputSchema"]), None)
    if remote is not None:  # M9: the gateway never fetches a schema from the network
        _log.warning("upstream_tool_rejected", server=server, reason="remote $ref", name=name)
        return False
    try:
        param_headers(tool["inputSchema"])
    except ValidationError as exc:  # M11: clients must not see a tool with bad x-mcp-header
        _log.warning("upstream_tool_rejected", server=server, reason=exc.message, name=name)
        return False
    return True
