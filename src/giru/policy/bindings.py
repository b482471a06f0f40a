"""Which packs decide a call, with which data: `kind: Policy` selectors compiled per route.

A call's binding depends on its server, the virtual server it came through and its
subscription's environment. Every `Policy` whose selector matches (each non-empty list must
contain the call's value; empty lists match anything) contributes its packs; their data is the
pack's default data deep-merged with each matching policy's `spec.data.<pack>`, the least
specific policy first (environment-only, then virtual server, then server; by name within a
level), so a server-specific setting wins. `core` is always on.

Identical bindings share one key (a content hash), so the bundle stays small however many
routes there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson

from giru.manifests.config import split_tool_ref

if TYPE_CHECKING:
    from giru.manifests.config import Config

__all__ = ["ALWAYS", "BindingTable", "PolicyRule", "call_routes", "deep_merge"]

Route = tuple[str, str | None, str | None]

ALWAYS: Final = "core"


class PolicyRule(Protocol):
    """What a `kind: Policy` says (the manifest's `spec`, reduced)."""

    @property
    def name(self) -> str: ...

    @property
    def packs(self) -> tuple[str, ...]: ...

    @property
    def servers(self) -> tuple[str, ...]: ...

    @property
    def virtual_servers(self) -> tuple[str, ...]: ...

    @property
    def environments(self) -> tuple[str, ...]: ...

    @property
    def data(self) -> Mapping[str, Mapping[str, Any]]: ...


@dataclass(slots=True)
class BindingTable:
    """The bindings of one configuration, and the route → binding key lookup."""

    rules: tuple[PolicyRule, ...]
    defaults: Mapping[str, Mapping[str, Any]]
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)
    _routes: dict[Route, str] = field(default_factory=dict)

    @classmethod
    def compile(
        cls,
        rules: Iterable[PolicyRule],
        defaults: Mapping[str, Mapping[str, Any]],
        routes: Iterable[Route],
    ) -> BindingTable:
        ordered = sorted(rules, key=lambda r: (_specificity(r), r.name))
        table = cls(tuple(ordered), defaults)
        for route in routes:
            table.key(*route)
        return table

    def key(self, server: str, virtual_server: str | None, environment: str | None) -> str:
        """The binding key for a call on this route (computed once per route)."""
        route = (server, virtual_server, environment)
        found = self._routes.get(route)
        if found is None:
            found = self._bind(route)
            self._routes[route] = found
        return found

    def packs(self, key: str) -> tuple[str, ...]:
        return tuple(self.bindings[key]["packs"])

    def _bind(self, route: Route) -> str:
        packs: list[str] = [ALWAYS]
        data: dict[str, Any] = {ALWAYS: dict(self.defaults.get(ALWAYS, {}))}
        for rule in self.rules:
            if not _matches(rule, *route):
                continue
            for pack in rule.packs:
                if pack not in packs:
                    packs.append(pack)
                    data[pack] = dict(self.defaults.get(pack, {}))
                data[pack] = deep_merge(data[pack], rule.data.get(pack, {}))
        binding = {"packs": sorted(packs), "data": data}
        key = hashlib.sha256(orjson.dumps(binding, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        self.bindings[key] = binding
        return key


def call_routes(config: Config) -> list[Route]:
    """Every (server, virtual server, environment) a call can arrive on in `config`.

    All of them are bound when the configuration is compiled, so each binding is in the bundle
    OPA holds before the first call: a binding made at call time would be unknown to OPA, and
    the call denied as `unknown binding`.
    """
    environments: list[str | None] = [None, *config.environments]  # a subscription names one
    through: dict[str, list[str | None]] = {server: [None] for server in config.servers}
    for vs in config.virtual_servers.values():
        members = set(vs.servers)
        members.update(parts[0] for ref in vs.tools if (parts := split_tool_ref(ref)))
        for server in sorted(members & through.keys()):
            through[server].append(vs.name)
    return [
        (server, virtual_server, environment)
        for server, virtual_servers in through.items()
        for virtual_server in virtual_servers
        for environment in environments
    ]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: objects merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for name, value in override.items():
        current = merged.get(name)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[name] = deep_merge(current, value)
        else:
            merged[name] = value
    return merged


def _matches(
    rule: PolicyRule, server: str, virtual_server: str | None, environment: str | None
) -> bool:
    return (
        (not rule.servers or server in rule.servers)
        and (not rule.virtual_servers or virtual_server in rule.virtual_servers)
        and (not rule.environments or environment in rule.environments)
    )


def _specificity(rule: PolicyRule) -> int:
    if rule.servers:
        return 3
    if rule.virtual_servers:
        return 2
    return 1 if rule.environments else 0
