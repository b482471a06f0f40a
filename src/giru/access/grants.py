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

__all__ = ["Grants", "Rate", "SubscriptionLimits", "compile_grants", "next_change"]


Rate = tuple[float, int | None]
"""Requests per second and burst (None: the limiter's default)."""


@dataclass(frozen=True, slots=True)
class SubscriptionLimits:
    """What limits a call granted by one subscription (enforced by `giru.limits`)."""

    rate: Rate | None = None
    per_day: int | None = None
    per_month: int | None = None
    tools: Mapping[str, Rate] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        quota = self.per_day is not None or self.per_month is not None
        return self.rate is None and not quota and not self.tools


@dataclass(frozen=True, slots=True)
class Grants:
    """One client's live subscriptions: whole servers and single tools, each with the
    subscription that grants it (the first by name when several do), and their limits."""

    servers: Mapping[str, str] = field(default_factory=dict)
    tools: Mapping[tuple[str, str], str] = field(default_factory=dict)
    limits: Mapping[str, SubscriptionLimits] = field(default_factory=dict)


def compile_grants(config: Config, now: datetime) -> dict[str, Grants]:
    """Grants per client name (and per `user:<email>` / `group:<name>` for the subscriptions of
    people), for the subscriptions of `config` in force at `now`."""
    servers: dict[str, dict[str, str]] = {}
    tools: dict[str, dict[tuple[str, str], str]] = {}
    limits: dict[str, dict[str, SubscriptionLimits]] = {}
    for name in sorted(config.subscriptions):
        sub = config.subscriptions[name]
        server = config.servers.get(sub.spec.server)
        if server is None or not server.enabled or not in_force(sub, now):
            continue
        grantee = sub.spec.grantee
        limits.setdefault(grantee, {})[name] = _limits(sub)
        if sub.spec.scope_type == "all":
            servers.setdefault(grantee, {}).setdefault(sub.spec.server, name)
            continue
        granted = tools.setdefault(grantee, {})
        for tool in sub.spec.scope_tools:
            granted.setdefault((sub.spec.server, tool), name)
    clients = servers.keys() | tools.keys()
    return {c: Grants(servers.get(c, {}), tools.get(c, {}), limits.get(c, {})) for c in clients}


def _limits(sub: SubscriptionConfig) -> SubscriptionLimits:
    spec = sub.spec
    rate = (float(spec.rate_limit_rps), spec.burst) if spec.rate_limit_rps else None
    return SubscriptionLimits(rate, spec.quota_per_day, spec.quota_per_month, spec.tool_rates())


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
