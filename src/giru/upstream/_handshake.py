"""Era and version negotiation: `initialize` (legacy era) or `server/discover` (modern era).

The gateway mirrors its downstream client: it offers the client's protocol version and
capabilities, prefers the client's era, and falls back to the other era when the upstream
rejects it. A per-server `EraCache` remembers what worked so the next connect goes straight.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import structlog

from giru.errors import UpstreamError, UpstreamProtocolError, UpstreamUnavailableError
from giru.upstream.base import ClientIdentity, ServerSpec

__all__ = [
    "HANDSHAKE_VERSIONS",
    "MODERN_VERSION",
    "Era",
    "EraCache",
    "HandshakeState",
    "Negotiated",
    "modern_meta",
    "negotiate",
]

_log = structlog.get_logger(__name__)

Era = Literal["legacy", "modern"]
HANDSHAKE_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSION: Final = "2026-07-28"
_UNSUPPORTED_VERSION: Final = -32022
# How a modern-only (2026-07-28) upstream refuses `initialize`: unsupported version, the
# MCP-Protocol-Version header it requires is missing (-32020), or no such method (-32601).
_MODERN_REFUSALS: Final = frozenset({_UNSUPPORTED_VERSION, -32020, -32601})
_META_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
_META_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
_META_CLIENT: Final = "io.modelcontextprotocol/clientInfo"

RawRequest = Callable[[str, dict[str, Any] | None], Awaitable[dict[str, Any]]]
Notify = Callable[[str, dict[str, Any] | None], Awaitable[None]]
UseModern = Callable[[str | None], None]


@dataclass(frozen=True, slots=True)
class Negotiated:
    era: Era
    protocol_version: str
    result: dict[str, Any]


class HandshakeState:
    """What every connector exposes of its handshake (the `UpstreamSession` properties)."""

    _spec: ServerSpec
    _negotiated: Negotiated | None

    @property
    def server(self) -> str:
        return self._spec.name

    @property
    def protocol_version(self) -> str:
        return self._negotiated.protocol_version if self._negotiated else ""

    @property
    def initialize_result(self) -> dict[str, Any]:
        return self._negotiated.result if self._negotiated else {}


class EraCache:
    """Which era each upstream spoke last time, keyed by server name (owned by the caller)."""

    def __init__(self) -> None:
        self._eras: dict[str, Era] = {}

    def get(self, server: str) -> Era | None:
        return self._eras.get(server)

    def remember(self, server: str, era: Era) -> None:
        self._eras[server] = era


def modern_meta(identity: ClientIdentity, version: str) -> dict[str, Any]:
    """The per-request `_meta` envelope of the 2026-07-28 era."""
    return {
        _META_VERSION: version,
        _META_CAPABILITIES: identity.capabilities,
        _META_CLIENT: identity.client_info,
    }


async def negotiate(
    server: str,
    identity: ClientIdentity,
    *,
    request: RawRequest,
    notify: Notify,
    use_modern: UseModern | None,
    cached: Era | None = None,
    pinned: bool = False,
) -> Negotiated:
    """Run the handshake. `use_modern` is None for transports that only speak the legacy era.

    `pinned` (the operator configured the era) means no probing of the other era: a pinned
    modern upstream is modern whatever its `server/discover` answer looks like."""
    wants_modern = cached == "modern" or (cached is None and _is_modern(identity))
    if use_modern is not None and wants_modern:
        found = await _discover(server, identity, request, use_modern, pinned=pinned)
        if found is not None:
            return found
        return await _initialize(server, identity, request, notify)
    try:
        return await _initialize(server, identity, request, notify)
    except (UpstreamProtocolError, UpstreamUnavailableError) as exc:
        if use_modern is None or not _may_be_modern(exc):
            raise
        found = await _discover(server, identity, request, use_modern)
        if found is None:
            raise
        return found


def _is_modern(identity: ClientIdentity) -> bool:
    return identity.protocol_version not in HANDSHAKE_VERSIONS


def _may_be_modern(exc: UpstreamError) -> bool:
    code = exc.data.get("code")
    return isinstance(exc, UpstreamProtocolError) or code in _MODERN_REFUSALS


async def _initialize(
    server: str, identity: ClientIdentity, request: RawRequest, notify: Notify
) -> Negotiated:
    offered = identity.protocol_version
    if offered not in HANDSHAKE_VERSIONS:
        offered = HANDSHAKE_VERSIONS[-1]
    params = {
        "protocolVersion": offered,
        "capabilities": identity.capabilities,
        "clientInfo": identity.client_info,
    }
    result = _result(server, await request("initialize", params), "initialize")
    version = result.get("protocolVersion")
    if not isinstance(version, str) or version not in HANDSHAKE_VERSIONS:
        raise UpstreamProtocolError(
            server,
            "upstream chose a protocol version the gateway does not speak",
            data={"reason": "unsupported_protocol_version", "offered": offered},
        )
    if version != offered:
        _log.info(
            "negotiated another protocol version", server=server, offered=offered, got=version
        )
    await notify("notifications/initialized", None)
    return Negotiated("legacy", version, result)


async def _discover(
    server: str,
    identity: ClientIdentity,
    request: RawRequest,
    use_modern: UseModern,
    *,
    pinned: bool = False,
) -> Negotiated | None:
    use_modern(MODERN_VERSION)
    try:
        response = await _discover_request(identity, request)
        if _offers_our_version(response):  # -32022 listing our version: retry once (SEP-2575)
            response = await _discover_request(identity, request)
    except UpstreamProtocolError:
        response = {}
    except BaseException:
        use_modern(None)
        raise
    result = response.get("result")
    supported = result.get("supportedVersions") if isinstance(result, dict) else None
    if isinstance(result, dict) and isinstance(supported, list) and MODERN_VERSION in supported:
        return Negotiated("modern", MODERN_VERSION, result)
    if pinned:
        return Negotiated("modern", MODERN_VERSION, result if isinstance(result, dict) else {})
    use_modern(None)
    _log.info("upstream is not modern-era", server=server)
    return None


async def _discover_request(identity: ClientIdentity, request: RawRequest) -> dict[str, Any]:
    return await request("server/discover", {"_meta": modern_meta(identity, MODERN_VERSION)})


def _offers_our_version(response: dict[str, Any]) -> bool:
    error = response.get("error")
    if not isinstance(error, dict) or error.get("code") != -32022:
        return False
    data = error.get("data")
    supported = data.get("supported") if isinstance(data, dict) else None
    return isinstance(supported, list) and MODERN_VERSION in supported


def _result(server: str, response: dict[str, Any], method: str) -> dict[str, Any]:
    result = response.get("result")
    if isinstance(result, dict):
        return result
    error = response.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    raise UpstreamUnavailableError(
        server,
        f"upstream rejected {method}",
        data={
            "reason": "handshake_rejected",
            "code": code if isinstance(code, int) else None,
            "message": str(error.get("message", ""))[:200],
        },
    )
