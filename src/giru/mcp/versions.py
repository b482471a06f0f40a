"""MCP protocol versions, eras and the per-request `_meta` envelope, sans-IO.

Legacy versions (2024-11-05 .. 2025-11-25) negotiate once with `initialize`; modern versions
(2026-07-28) carry version and client capabilities in every request's `params._meta`.
See docs/protocol/eras.md for the rules these functions implement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from giru.mcp.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, JsonRpcError, Message

__all__ = [
    "DEFAULT_HEADERLESS_VERSION",
    "HEADER_MISMATCH",
    "LATEST_LEGACY_VERSION",
    "LATEST_MODERN_VERSION",
    "LEGACY_VERSIONS",
    "LOG_LEVELS",
    "META_CLIENT_CAPABILITIES",
    "META_CLIENT_INFO",
    "META_LOG_LEVEL",
    "META_PROTOCOL_VERSION",
    "META_SERVER_INFO",
    "META_SUBSCRIPTION_ID",
    "MISSING_REQUIRED_CLIENT_CAPABILITY",
    "MODERN_VERSIONS",
    "SUPPORTED_VERSIONS",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "Era",
    "RequestEnvelope",
    "era_of",
    "has_envelope_claim",
    "legacy_version",
    "missing_capability_error",
    "negotiate",
    "read_envelope",
    "request_era",
    "require_client_capabilities",
    "unsupported_version_error",
]

Era = Literal["legacy", "modern"]

LEGACY_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
SUPPORTED_VERSIONS: Final = LEGACY_VERSIONS + MODERN_VERSIONS
LATEST_LEGACY_VERSION: Final = LEGACY_VERSIONS[-1]
LATEST_MODERN_VERSION: Final = MODERN_VERSIONS[-1]
# 2025-11-25 "Protocol Version Header": no header and no other way to know → assume 2025-03-26.
DEFAULT_HEADERLESS_VERSION: Final = "2025-03-26"

# 2026-07-28 error codes (basic/index "Error Codes"); all answered with HTTP 400.
HEADER_MISMATCH: Final = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY: Final = -32021
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022

# Reserved `_meta` keys (2026-07-28 basic/index "_meta").
META_PROTOCOL_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO: Final = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
META_LOG_LEVEL: Final = "io.modelcontextprotocol/logLevel"
META_SUBSCRIPTION_ID: Final = "io.modelcontextprotocol/subscriptionId"
META_SERVER_INFO: Final = "io.modelcontextprotocol/serverInfo"

LOG_LEVELS: Final = frozenset(
    {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}
)
_ADVERTISED: Final = tuple(reversed(MODERN_VERSIONS))  # what server/discover lists, newest first


def era_of(version: str) -> Era | None:
    """The era of a known version, or None for a version Giru does not support."""
    if version in MODERN_VERSIONS:
        return "modern"
    if version in LEGACY_VERSIONS:
        return "legacy"
    return None


def negotiate(requested: str) -> str:
    """The version to answer `initialize` with: the requested one if supported, else the latest.

    Only legacy versions can be negotiated by `initialize`; a modern version requested there
    is answered with the latest legacy version (lifecycle "Version Negotiation").
    """
    return requested if requested in LEGACY_VERSIONS else LATEST_LEGACY_VERSION


def unsupported_version_error(requested: str, *, id: Any = None) -> JsonRpcError:
    """`-32022 UnsupportedProtocolVersion` with `data.supported` and `data.requested` (S5)."""
    return JsonRpcError(
        UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        id=id,
        data={"supported": list(_ADVERTISED), "requested": requested[:64]},
    )


def legacy_version(header: str | None, *, id: Any = None) -> str:
    """The version of a legacy request from `MCP-Protocol-Version`; unsupported is 400 (S5).

    No header means 2025-03-26 (2025-11-25 "Protocol Version Header").
    """
    if header is None:
        return DEFAULT_HEADERLESS_VERSION
    if header not in LEGACY_VERSIONS:
        raise unsupported_version_error(header, id=id)
    return header


@dataclass(frozen=True, slots=True)
class RequestEnvelope:
    """The per-request protocol fields of a modern request's `params._meta`."""

    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any] | None = None
    log_level: str | None = None


def has_envelope_claim(params: dict[str, Any] | None) -> bool:
    """True when `params._meta` carries the protocol-version key: the message claims modern."""
    meta = params.get("_meta") if params is not None else None
    return isinstance(meta, dict) and META_PROTOCOL_VERSION in meta


def read_envelope(message: Message) -> RequestEnvelope:
    """Validate the required `_meta` fields of a modern request, or raise -32602 (S8)."""
    params = message.params or {}
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise _envelope_error(message, "params._meta is missing", missing=["_meta"])
    missing = [k for k in (META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES) if k not in meta]
    if missing:
        raise _envelope_error(message, "params._meta lacks required keys", missing=missing)
    version = meta[META_PROTOCOL_VERSION]
    capabilities = meta[META_CLIENT_CAPABILITIES]
    client_info = meta.get(META_CLIENT_INFO)
    log_level = meta.get(META_LOG_LEVEL)
    if not isinstance(version, str):
        raise _envelope_error(message, "protocolVersion must be a string")
    if not isinstance(capabilities, dict):
        raise _envelope_error(message, "clientCapabilities must be an object")
    if client_info is not None and not isinstance(client_info, dict):
        raise _envelope_error(message, "clientInfo must be an object")
    if log_level is not None and log_level not in LOG_LEVELS:
        raise _envelope_error(message, "logLevel is not a logging level")
    return RequestEnvelope(version, capabilities, client_info, log_level)


def _envelope_error(
    message: Message, text: str, *, missing: list[str] | None = None
) -> JsonRpcError:
    data = {"missing": missing} if missing else None
    return JsonRpcError(INVALID_PARAMS, f"Invalid params: {text}", id=message.id, data=data)


def missing_capability_error(required: dict[str, Any], *, id: Any = None) -> JsonRpcError:
    """`-32021 MissingRequiredClientCapability` with `data.requiredCapabilities` (S10)."""
    return JsonRpcError(
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        "Missing required client capability",
        id=id,
        data={"requiredCapabilities": required},
    )


def require_client_capabilities(
    envelope: RequestEnvelope, required: dict[str, Any], *, id: Any = None
) -> None:
    """Raise -32021 naming every top-level capability in `required` the request lacks."""
    missing = {k: v for k, v in required.items() if k not in envelope.client_capabilities}
    if missing:
        raise missing_capability_error(missing, id=id)


def request_era(http_method: str, version_header: str | None, message: Message | None) -> Era:
    """Decide which era serves one HTTP request to a dual-era endpoint (body first).

    A message whose `params._meta` claims a protocol version is modern; `initialize` and
    unclaimed messages are legacy; non-POST requests (GET stream, DELETE session) are legacy.
    `MCP-Protocol-Version` only cross-checks: a modern header on unclaimed traffic is rejected.
    """
    if http_method.upper() != "POST" or message is None:
        return "legacy"
    header_modern = version_header is not None and era_of(version_header) == "modern"
    if message.kind == "response":
        if header_modern:  # J11: 2026-07-28 clients MUST NOT send responses
            raise JsonRpcError(INVALID_REQUEST, "a client must not post JSON-RPC responses")
        return "legacy"
    if has_envelope_claim(message.params):
        return "modern"
    if message.kind == "notification":
        return "modern" if header_modern else "legacy"
    if not header_modern:
        return "legacy"
    if message.method == "initialize":
        raise JsonRpcError(
            HEADER_MISMATCH,
            "Header mismatch: initialize sent with a modern MCP-Protocol-Version header",
            id=message.id,
        )
    raise _envelope_error(message, "params._meta is missing", missing=["_meta"])
