"""2026-07-28 Streamable HTTP request headers, sans-IO: parse, validate against the body, build.

`MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` mirror body fields so intermediaries can
route without parsing; `Mcp-Param-{Name}` mirror tool arguments annotated with `x-mcp-header`.
Every disagreement is `400` + `-32020 HeaderMismatch` (streamable-http "Server Validation").
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

from giru.errors import ValidationError
from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError, Message
from giru.mcp.versions import (
    HEADER_MISMATCH,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
    RequestEnvelope,
    read_envelope,
    unsupported_version_error,
)

__all__ = [
    "METHOD_HEADER",
    "NAME_HEADER",
    "NAME_SOURCES",
    "PARAM_HEADER_PREFIX",
    "PROTOCOL_VERSION_HEADER",
    "McpHeaders",
    "ParamHeader",
    "decode_header_value",
    "encode_header_value",
    "outgoing_headers",
    "param_headers",
    "param_values",
    "validate_modern_notification",
    "validate_modern_request",
    "validate_param_headers",
]

PROTOCOL_VERSION_HEADER: Final = "mcp-protocol-version"
METHOD_HEADER: Final = "mcp-method"
NAME_HEADER: Final = "mcp-name"
PARAM_HEADER_PREFIX: Final = "mcp-param-"
# Which body field `Mcp-Name` mirrors ("Standard Request Headers" table).
NAME_SOURCES: Final[Mapping[str, str]] = MappingProxyType(
    {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
)

_OWS: Final = " \t"
_PREFIXES: Final = frozenset({"mcp-", b"mcp-"})
_FIELD_VALUE: Final = re.compile(r"[\x20-\x7e\t]*")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_B64_PREFIX: Final = "=?base64?"
_B64_SUFFIX: Final = "?="
_B64_CANONICAL: Final = re.compile(
    r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
)  # RFC 4648 alphabet, padding required
_DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_JS_SAFE: Final = 2**53 - 1
_HEADER_TYPES: Final = frozenset({"string", "integer", "boolean"})
# Subschema keywords an `x-mcp-header` chain must not pass through ("Schema Extension").
_SINGLE_SUBSCHEMA: Final = (
    "items", "contains", "additionalProperties", "unevaluatedProperties", "unevaluatedItems",
    "propertyNames", "not", "if", "then", "else", "contentSchema",
)  # fmt: skip
_LIST_SUBSCHEMA: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP_SUBSCHEMA: Final = ("patternProperties", "dependentSchemas", "$defs", "definitions")

HeaderType = Literal["string", "integer", "boolean"]


def _mismatch(text: str, id: Any = None) -> JsonRpcError:
    return JsonRpcError(HEADER_MISMATCH, f"Header mismatch: {text}", id=id)


@dataclass(frozen=True, slots=True)
class McpHeaders:
    """The MCP headers of one request: names case-folded, values OWS-trimmed and checked."""

    protocol_version: str | None = None
    method: str | None = None
    name: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # lower-case {Name} -> raw value

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str | bytes, str | bytes]]) -> McpHeaders:
        """Collect MCP headers from raw (ASGI-style) pairs; reject duplicates and bad bytes."""
        found: dict[str, str] = {}
        for raw_name, raw_value in pairs:
            if raw_name[:4].lower() not in _PREFIXES:  # most headers: not decoded at all
                continue
            name = _text(raw_name).lower()
            value = _text(raw_value).strip(_OWS)
            if name in found:
                raise _mismatch(f"{name} sent more than once")
            if not _FIELD_VALUE.fullmatch(value):
                raise _mismatch(f"{name} contains invalid characters")
            found[name] = value
        params = {k[len(PARAM_HEADER_PREFIX) :]: v for k, v in found.items() if _is_param(k)}
        return cls(
            protocol_version=found.get(PROTOCOL_VERSION_HEADER),
            method=found.get(METHOD_HEADER),
            name=found.get(NAME_HEADER),
            params=params,
        )


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _is_param(name: str) -> bool:
    return name.startswith(PARAM_HEADER_PREFIX) and len(name) > len(PARAM_HEADER_PREFIX)


def decode_header_value(value: str, *, id: Any = None) -> str:
    """Decode the `=?base64?…?=` form (canonical padding, UTF-8) or return `value` as is."""
    sentinel_length = len(_B64_PREFIX) + len(_B64_SUFFIX)
    if not (
        len(value) >= sentinel_length
        and value.startswith(_B64_PREFIX)
        and value.endswith(_B64_SUFFIX)
    ):
        return value
    payload = value[len(_B64_PREFIX) : -len(_B64_SUFFIX)]
    if not _B64_CANONICAL.fullmatch(payload):
        raise _mismatch("invalid base64 header value", id)
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _mismatch("base64 header value is not UTF-8", id) from exc


def encode_header_value(value: str) -> str:
    """Encode `value` for a header, using the base64 form when plain ASCII is not safe."""
    plain = (
        value != ""
        and value == value.strip(_OWS)
        and _FIELD_VALUE.fullmatch(value) is not None
        and not (value.startswith(_B64_PREFIX) and value.endswith(_B64_SUFFIX))
    )
    if plain:
        return value
    return _B64_PREFIX + base64.b64encode(value.encode("utf-8")).decode("ascii") + _B64_SUFFIX


def validate_modern_request(headers: McpHeaders, message: Message) -> RequestEnvelope:
    """Check one modern request: `_meta` (S8), headers vs body (S7, S9, M7), version (S5).

    Header checks run before the supported-version check so that a client disagreeing with
    itself hears `-32020`, not `-32022`.
    """
    envelope = read_envelope(message)
    if headers.protocol_version is None:
        raise _mismatch("required MCP-Protocol-Version header is missing", message.id)
    if headers.protocol_version != envelope.protocol_version:
        raise _mismatch("MCP-Protocol-Version does not match _meta protocolVersion", message.id)
    if headers.method is None:
        raise _mismatch("required Mcp-Method header is missing", message.id)
    if headers.method != message.method:
        raise _mismatch("Mcp-Method does not match the body method", message.id)
    _check_name(headers, message)
    if envelope.protocol_version not in MODERN_VERSIONS:
        raise unsupported_version_error(envelope.protocol_version, id=message.id)
    return envelope


def _check_name(headers: McpHeaders, message: Message) -> None:
    source = NAME_SOURCES.get(message.method or "")
    if source is None:
        return
    body_value = (message.params or {}).get(source)
    if not isinstance(body_value, str):
        raise JsonRpcError(INVALID_PARAMS, f"params.{source} must be a string", id=message.id)
    if headers.name is None:
        raise _mismatch("required Mcp-Name header is missing", message.id)
    if decode_header_value(headers.name, id=message.id) != body_value:
        raise _mismatch(f"Mcp-Name does not match params.{source}", message.id)


def validate_modern_notification(headers: McpHeaders, message: Message) -> None:
    """Check a modern notification POST: `Mcp-Method`, when sent, must match the body."""
    if headers.method is not None and headers.method != message.method:
        raise _mismatch("Mcp-Method does not match the body method")


@dataclass(frozen=True, slots=True)
class ParamHeader:
    """One `x-mcp-header` annotation: the argument path and the `{Name}` of `Mcp-Param-{Name}`."""

    path: tuple[str, ...]
    name: str
    type: HeaderType


def param_headers(input_schema: Any) -> tuple[ParamHeader, ...]:
    """The `x-mcp-header` annotations of a tool's `inputSchema`; ValidationError if invalid (M11).

    Annotations must be RFC 9110 tokens, case-insensitively unique, on string/integer/boolean
    properties reachable from the root through `properties` keys only.
    """
    found: list[ParamHeader] = []
    seen: set[str] = set()
    stack: list[tuple[Any, tuple[str, ...], bool]] = [(input_schema, (), True)]
    while stack:
        node, path, reachable = stack.pop()
        if not isinstance(node, dict):
            continue
        if "x-mcp-header" in node:
            declared = _annotation(node, path, reachable, seen)
            found.append(declared)
            seen.add(declared.name.lower())
        stack.extend(reversed(_children(node, path, reachable)))
    return tuple(found)


def _annotation(
    node: dict[str, Any], path: tuple[str, ...], reachable: bool, seen: set[str]
) -> ParamHeader:
    where = ".".join(path) or "<root>"
    name = node["x-mcp-header"]
    if not reachable or not path:
        raise _invalid(f"{where}: x-mcp-header is only allowed under a chain of 'properties'")
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise _invalid(f"{where}: x-mcp-header must be a non-empty RFC 9110 token")
    if name.lower() in seen:
        raise _invalid(f"{where}: x-mcp-header {name!r} is not case-insensitively unique")
    kind = node.get("type")
    if kind not in _HEADER_TYPES:
        raise _invalid(f"{where}: x-mcp-header needs type string, integer or boolean")
    return ParamHeader(path=path, name=name, type=kind)


def _children(
    node: dict[str, Any], path: tuple[str, ...], reachable: bool
) -> list[tuple[Any, tuple[str, ...], bool]]:
    out: list[tuple[Any, tuple[str, ...], bool]] = []
    properties = node.get("properties")
    if isinstance(properties, dict):
        out.extend((child, (*path, str(key)), reachable) for key, child in properties.items())
    for key in _SINGLE_SUBSCHEMA:
        if key in node:
            out.append((node[key], (*path, f"<{key}>"), False))
    for key in _LIST_SUBSCHEMA + _MAP_SUBSCHEMA:
        value = node.get(key)
        branches = list(value.values()) if isinstance(value, dict) else value
        if isinstance(branches, list):
            out.extend((branch, (*path, f"<{key}>"), False) for branch in branches)
    return out


def _invalid(reason: str) -> ValidationError:
    return ValidationError(f"invalid x-mcp-header annotation: {reason}", data={"reason": reason})


def validate_param_headers(
    declared: Sequence[ParamHeader],
    arguments: Mapping[str, Any] | None,
    headers: McpHeaders,
    *,
    id: Any = None,
) -> None:
    """Every annotated argument present in the body must arrive, equal, as `Mcp-Param-{Name}`."""
    for param in declared:
        body = _value_at(arguments, param.path)
        if body is None:
            continue  # null or absent: the server must not expect the header
        rendered = _render(body)
        if rendered is None:
            raise JsonRpcError(
                INVALID_PARAMS, f"argument {'.'.join(param.path)} must be a primitive", id=id
            )
        raw = headers.params.get(param.name.lower())
        if raw is None:
            raise _mismatch(f"required Mcp-Param-{param.name} header is missing", id)
        if not _param_matches(param, body, rendered, decode_header_value(raw, id=id)):
            raise _mismatch(f"Mcp-Param-{param.name} does not match the argument", id)


def _value_at(arguments: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    node: Any = arguments
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _render(value: Any) -> str | None:
    """The header text of a primitive argument ("Value Encoding" type conversion)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and abs(value) <= _JS_SAFE:
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= _JS_SAFE:
        return str(int(value))
    return None


def _param_matches(param: ParamHeader, body: Any, rendered: str, header: str) -> bool:
    if param.type == "integer" and not isinstance(body, bool | str) and _DECIMAL.fullmatch(header):
        return Decimal(header) == Decimal(rendered)  # numeric: "42.0" equals 42
    return header == rendered


def outgoing_headers(message: Message, declared: Sequence[ParamHeader] = ()) -> dict[str, str]:
    """The headers a client (Giru towards a modern upstream) must send with `message`."""
    params = message.params or {}
    meta = params.get("_meta")
    out: dict[str, str] = {}
    if isinstance(meta, dict) and isinstance(meta.get(META_PROTOCOL_VERSION), str):
        out["MCP-Protocol-Version"] = meta[META_PROTOCOL_VERSION]
    if message.method is not None:
        out["Mcp-Method"] = message.method
    source = NAME_SOURCES.get(message.method or "")
    if source is not None and isinstance(params.get(source), str):
        out["Mcp-Name"] = encode_header_value(params[source])
    out.update(param_values(params.get("arguments"), declared))
    return out


def param_values(arguments: Any, declared: Sequence[ParamHeader]) -> dict[str, str]:
    """The `Mcp-Param-{Name}` headers for the annotated arguments present in `arguments`."""
    out: dict[str, str] = {}
    for param in declared:
        rendered = _render(_value_at(arguments, param.path))
        if rendered is not None:
            out[f"Mcp-Param-{param.name}"] = encode_header_value(rendered)
    return out
