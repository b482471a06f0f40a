"""Subscriptions compiled into what each client may use right now.

The seed's resolve-tool-subscription rule, evaluated when the config changes instead of per
request: a subscription grants its tools while its status is `active`, `startsAt <= now <
expiresAt`, and its server is enabled; `scopeType: all` grants every tool of the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from giru.manifests.config import Config, SubscriptionConfig

__all__ = ["Grants", "compile_grants", "next_change"]


@dataclass(frozen=True, slots=True)
class Grants:
    """One client's live subscriptions: whole servers and single tools, each with the
    subscription that grants it (the first by name when several do)."""

    servers: Mapping[str, str] = field(default_factory=dict)
    tools: Mapping[tuple[str, str], str] = field(default_factory=dict)


def compile_grants(config: Config, now: datetime) -> dict[str, Grants]:
    """Grants per client name, for the subscriptions of `config` in force at `now`."""
    servers: dict[str, dict[str, str]] = {}
    tools: dict[str, dict[tuple[str, str], str]] = {}
    for name in sorted(config.subscriptions):
        sub = config.subscriptions[name]
        server = config.servers.get(sub.spec.server)
        if server is None or not server.enabled or not in_force(sub, now):
            continue
        if sub.spec.scope_type == "all":
            servers.setdefault(sub.spec.client, {}).setdefault(sub.spec.server, name)
            continue
        granted = tools.setdefault(sub.spec.client, {})
        for tool in sub.spec.scope_tools:
            granted.setdefault((sub.spec.server, tool), name)
    clients = servers.keys() | tools.keys()
    return {c: Grants(servers.get(c, {}), tools.get(c, {})) for c in clients}


def in_force(sub: SubscriptionConfig, now: datetime) -> bool:
    spec = sub.spec
    if spec.status != "active":
        return False
    if spec.starts_at is not None and spec.starts_at > now:
        return False
    return spec.expires_at is None or spec.expires_at > now


def next_change(config: Config, now: datetime) -> datetime | None:
    """The next instant after `now` at which an active subscription starts or expires."""
    moments = [
        moment
        for sub in config.subscriptions.values()
        if sub.spec.status == "active"
        for moment in (sub.spec.starts_at, sub.spec.expires_at)
        if moment is not None and moment > now
    ]
    return min(moments, default=None)
