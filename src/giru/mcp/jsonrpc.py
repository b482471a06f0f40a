"""JSON-RPC 2.0 framing for MCP, sans-IO: strict parsing, exact ids, lossless re-encoding.

Parsing is strict where parsers are known to disagree (duplicate keys, lone surrogates, NaN,
batches, id types) so that every component that reads a message sees the same message.
Numbers that Python cannot carry exactly (floats that do not round-trip, integers outside 64 bits,
``-0``) are kept as their original text in an ``orjson.Fragment`` and re-encoded byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "JsonRpcError",
    "Message",
    "ParseLimits",
    "dumps",
    "error_response",
    "id_key",
    "parse_message",
    "result_response",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

_I64_MIN: Final = -(2**63)
_U64_MAX: Final = 2**64 - 1
_REQUEST_KEYS: Final = frozenset({"jsonrpc", "id", "method", "params"})
_RESPONSE_KEYS: Final = frozenset({"jsonrpc", "id", "result", "error"})

Kind = Literal["request", "notification", "response"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds applied while parsing one message (BAD-INPUT J6, J12, J13)."""

    max_depth: int = 64
    max_id_length: int = 256
    max_items: int = 100_000  # members of one object or elements of one array


class JsonRpcError(Exception):
    """A message that cannot be processed; carries the JSON-RPC error to answer with."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        id: Any = None,
        data: dict[str, Any] | None = None,
        http_status: int = 400,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.data = data
        self.http_status = http_status

    def to_response(self) -> dict[str, Any]:
        return error_response(self.id, self.code, self.message, self.data)


@dataclass(slots=True)
class Message:
    """One parsed JSON-RPC message; `raw` is the whole decoded object."""

    kind: Kind
    raw: dict[str, Any]
    method: str | None = None
    id: Any = None
    params: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id_key(self) -> bytes:
        return id_key(self.id)


def id_key(value: Any) -> bytes:
    """A hashable identity for a JSON-RPC id: its exact JSON text."""
    return orjson.dumps(value)


def dumps(message: Any) -> bytes:
    """Encode a message; Fragments (exact numbers) are written as they were received."""
    return orjson.dumps(message)


def result_response(id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": result}


def error_response(
    id: Any,
    code: int,
    message: str,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": error}


def parse_message(body: bytes, limits: ParseLimits = ParseLimits()) -> Message:
    """Parse and validate one JSON-RPC message from `body`, or raise `JsonRpcError`."""
    value = _decode(body, limits)
    if isinstance(value, list):
        raise JsonRpcError(INVALID_REQUEST, "JSON-RPC batching is not supported")
    if not isinstance(value, dict):
        raise JsonRpcError(INVALID_REQUEST, "a JSON-RPC message must be an object")
    message = _classify(value, limits)
    if isinstance(message.id, str) and b"\\" in body:
        message.id = _exact_string_id(body, message.id)
    return message


def _exact_string_id(body: bytes, value: str) -> Any:
    """A string id written with escapes (`"\\u00e9"`) is echoed as written, not re-encoded (J6).

    The top-level `id` member's raw token is found by scanning; when the scan is ambiguous the
    decoded value is kept (same id, possibly other bytes).
    """
    if orjson.dumps(value) in body:
        return value
    candidates = {m.group(1) for m in _ID_TOKEN.finditer(body) if orjson.loads(m.group(1)) == value}
    return orjson.Fragment(candidates.pop()) if len(candidates) == 1 else value


def _decode(body: bytes, limits: ParseLimits) -> Any:
    if not body.strip():
        raise JsonRpcError(PARSE_ERROR, "Parse error: empty body")
    value = _plain(body, limits)
    if value is not _CAREFUL:
        return value
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
        value = _DECODER.decode(text)
        if "\\u" in text and _SURROGATE_ESCAPE.search(text):
            _check_surrogates(value)
    except _DuplicateKeyError as exc:
        raise JsonRpcError(INVALID_REQUEST, f"duplicate object key {exc.key!r}") from exc
    except (orjson.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JsonRpcError(PARSE_ERROR, "Parse error: malformed JSON") from exc
    _check_shape(value, limits)
    return value


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key[:64]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _parse_int(text: str) -> Any:
    number = int(text)
    if text == "-0" or not _I64_MIN <= number <= _U64_MAX:
        return orjson.Fragment(text.encode())
    return number


def _parse_float(text: str) -> Any:
    number = float(text)
    raw = text.encode()
    # compare with orjson's own rendering (not repr: "1e-08" vs "1e-8") so re-encoding is exact
    if orjson.dumps(number) != raw:
        return orjson.Fragment(raw)
    return number


def _reject_constant(text: str) -> Any:
    raise ValueError(f"invalid JSON constant {text}")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_reject_constant,
)


_ID_TOKEN: Final = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*")')
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_surrogates(value: Any) -> None:
    """Reject lone surrogate escapes: MCP messages must be valid UTF-8 (BAD-INPUT J2)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            node.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _plain(body: bytes, limits: ParseLimits) -> Any:
    """The message decoded by orjson when that is sure to give what the careful decoder gives,
    else `_CAREFUL`. Sure means: orjson accepts the body (whatever it refuses, the careful
    decoder says why), it holds no number that must keep its text (a fraction, an exponent,
    `-0`, 19 digits or more), no key twice (as many keys decoded as `:` outside strings), and
    its shape is within `limits` (else the careful decoder reports what it finds first).

    Strings are blanked out (`bare`) only when the body leaves a doubt: as many `:` in the
    body as keys decoded means none in a string and no key twice (the keys decoded are at most
    the `:` outside strings), and then no number pattern in the body, once its `"2.0"` strings
    are blanked (every message's `"jsonrpc": "2.0"`), means none outside its strings either."""
    try:
        value = orjson.loads(body)
        keys = _check_shape(value, limits)
    except (orjson.JSONDecodeError, JsonRpcError):
        return _CAREFUL
    if body.count(b":") == keys and not _EXACT_NUMBER.search(body.replace(b'"2.0"', b'""')):
        return value
    bare = _STRING.sub(b'""', body)
    if keys != bare.count(b":") or _EXACT_NUMBER.search(bare) is not None:
        return _CAREFUL
    return value


_CAREFUL: Final = object()
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_EXACT_NUMBER: Final = re.compile(rb"[0-9][.eE]|-0(?![0-9])|[0-9]{19}")


def _check_shape(value: Any, limits: ParseLimits) -> int:
    """Refuse a message nested deeper than `limits.max_depth` or with a collection of more than
    `limits.max_items`; the number of object keys in it."""
    if not isinstance(value, dict | list):
        return 0
    keys = 0
    max_depth, max_items = limits.max_depth, limits.max_items
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise JsonRpcError(INVALID_REQUEST, f"message nested deeper than {max_depth} levels")
        if len(node) > max_items:
            raise JsonRpcError(INVALID_PARAMS, f"a collection exceeds {max_items} items")
        if isinstance(node, dict):
            keys += len(node)
            node = node.values()
        for child in node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return keys


def _classify(obj: dict[str, Any], limits: ParseLimits) -> Message:
    message_id = obj.get("id")
    if obj.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, 'jsonrpc must be exactly "2.0"', id=_safe_id(obj))
    if "method" in obj:
        return _classify_request(obj, limits)
    if "result" in obj or "error" in obj:
        _check_members(obj, _RESPONSE_KEYS)
        if ("result" in obj) == ("error" in obj):
            raise JsonRpcError(INVALID_REQUEST, "a response has exactly one of result and error")
        _check_id(message_id, limits, allow_null="error" in obj)
        return Message(kind="response", raw=obj, id=message_id)
    raise JsonRpcError(INVALID_REQUEST, "not a JSON-RPC request, notification or response")


def _classify_request(obj: dict[str, Any], limits: ParseLimits) -> Message:
    _check_members(obj, _REQUEST_KEYS)
    method = obj["method"]
    has_id = "id" in obj
    message_id = obj.get("id")
    if has_id:
        _check_id(message_id, limits, allow_null=False)
    if not isinstance(method, str):
        raise JsonRpcError(INVALID_REQUEST, "method must be a string", id=message_id)
    params = obj.get("params")
    if "params" in obj and not isinstance(params, dict):
        raise JsonRpcError(INVALID_PARAMS, "params must be an object", id=message_id)
    kind: Kind = "request" if has_id else "notification"
    return Message(kind=kind, raw=obj, method=method, id=message_id, params=params)


def _check_members(obj: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = obj.keys() - allowed
    if unknown:
        name = sorted(unknown)[0][:64]
        raise JsonRpcError(INVALID_REQUEST, f"unexpected member {name!r}", id=_safe_id(obj))


def _check_id(value: Any, limits: ParseLimits, *, allow_null: bool) -> None:
    if value is None and allow_null:
        return
    if value is None:
        raise JsonRpcError(INVALID_REQUEST, "id must not be null")
    if isinstance(value, bool) or not isinstance(value, str | int | float | orjson.Fragment):
        raise JsonRpcError(INVALID_REQUEST, "id must be a string or a number")
    if isinstance(value, str) and len(value.encode()) > limits.max_id_length:
        raise JsonRpcError(INVALID_REQUEST, f"id longer than {limits.max_id_length} bytes")


def _safe_id(obj: dict[str, Any]) -> Any:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int | float | orjson.Fragment):
        return None
    if isinstance(value, str) and len(value) > 256:
        return None
    return value
