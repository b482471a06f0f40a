"""The resource kinds as the CLI names them: API paths, aliases, and table columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from giru.errors import ValidationError

__all__ = ["BY_KIND", "KINDS", "Column", "KindInfo", "age", "resolve_kind"]

Column = tuple[str, Callable[[dict[str, Any]], str]]


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: str
    path: str  # under /api/v1
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def resource(self) -> str:
        """The lowercase name used in `kind/name` output (`mcpserver/github`)."""
        return self.kind.lower()

    def item_path(self, name: str) -> str:
        return f"/{self.path}/{name}"


def age(timestamp: Any, now: datetime | None = None) -> str:
    """kubectl-style age (`45s`, `12m`, `5h`, `3d`) of an RFC 3339 timestamp; `-` if unknown."""
    if not isinstance(timestamp, str):
        return "-"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _spec(key: str, default: str = "-") -> Callable[[dict[str, Any]], str]:
    def cell(obj: dict[str, Any]) -> str:
        return _text(obj.get("spec", {}).get(key), default)

    return cell


def _status(key: str, default: str = "-") -> Callable[[dict[str, Any]], str]:
    def cell(obj: dict[str, Any]) -> str:
        return _text((obj.get("status") or {}).get(key), default)

    return cell


def _text(value: Any, default: str = "-") -> str:
    if value is None or value == [] or value == "":
        return default
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _endpoint(obj: dict[str, Any]) -> str:
    spec = obj.get("spec", {})
    return _text(spec.get("url") or spec.get("command"))


def _keys(obj: dict[str, Any]) -> str:
    return str(len((obj.get("status") or {}).get("keys") or []))


def _scope(obj: dict[str, Any]) -> str:
    spec = obj.get("spec", {})
    if spec.get("scopeType") == "all":
        return "all"
    return _text(spec.get("scopeTools"))


def _selector(obj: dict[str, Any]) -> str:
    """`servers=a,b;environments=prod`, or `*` when the policy applies everywhere."""
    selector = obj.get("spec", {}).get("selector") or {}
    parts = [f"{key}={_text(names)}" for key, names in selector.items() if names]
    return ";".join(parts) or "*"


_NAME: Column = ("NAME", lambda obj: _text(obj.get("metadata", {}).get("name")))
_AGE: Column = ("AGE", lambda obj: age(obj.get("metadata", {}).get("createdAt")))

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "MCPServer",
        "servers",
        ("mcpserver", "mcpservers", "server", "servers"),
        (
            _NAME,
            ("TRANSPORT", _spec("transport")),
            ("ENDPOINT", _endpoint),
            ("ENABLED", _spec("enabled")),
            ("HEALTH", _status("health", "unknown")),
            ("TOOLS", _status("tools", "0")),
            _AGE,
        ),
    ),
    KindInfo(
        "VirtualServer",
        "virtual-servers",
        ("virtualserver", "virtualservers", "vs"),
        (
            _NAME,
            ("SERVERS", _spec("servers")),
            ("TOOLS", _spec("tools")),
            ("PREFIX", _spec("prefix")),
            ("AUTH", _spec("auth")),
            _AGE,
        ),
    ),
    KindInfo(
        "Client",
        "clients",
        ("client", "clients"),
        (_NAME, ("SERVERS", _spec("servers")), ("TOOLS", _spec("tools")), ("KEYS", _keys), _AGE),
    ),
    KindInfo(
        "Subscription",
        "subscriptions",
        ("subscription", "subscriptions", "sub", "subs"),
        (
            _NAME,
            ("CLIENT", _spec("client")),
            ("SERVER", _spec("server")),
            ("ENVIRONMENT", _spec("environment")),
            ("STATUS", _spec("status")),
            ("SCOPE", _scope),
            ("EXPIRES", _spec("expiresAt")),
            _AGE,
        ),
    ),
    KindInfo(
        "Environment",
        "environments",
        ("environment", "environments", "env", "envs"),
        (
            _NAME,
            ("DISPLAY NAME", _spec("displayName")),
            ("AUTO-APPROVAL", _spec("allowAutoApproval")),
            _AGE,
        ),
    ),
    KindInfo(
        "Policy",
        "policies",
        ("policy", "policies", "pol"),
        (_NAME, ("PACKS", _spec("packs")), ("SELECTOR", _selector), _AGE),
    ),
    KindInfo(
        "IdentityProvider",
        "identity-providers",
        ("identityprovider", "identityproviders", "idp", "idps"),
        (_NAME, ("ISSUER", _spec("issuer")), ("MODE", _spec("mode", "broker")), _AGE),
    ),
)
BY_KIND = {info.kind: info for info in KINDS}
_BY_ALIAS = {alias: info for info in KINDS for alias in info.aliases}


def resolve_kind(text: str) -> KindInfo:
    """The kind named by `text` (a kind, plural or short alias; case-insensitive)."""
    info = _BY_ALIAS.get(text.lower())
    if info is None:
        known = ", ".join(sorted(_BY_ALIAS))
        raise ValidationError(f"unknown resource type {text!r}; expected one of {known}")
    return info
