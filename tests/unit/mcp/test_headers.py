"""2026-07-28 request headers: parsing, base64 values, body cross-checks, Mcp-Param-*."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.errors import ValidationError
from giru.mcp.headers import (
    McpHeaders,
    ParamHeader,
    decode_header_value,
    encode_header_value,
    outgoing_headers,
    param_headers,
    validate_modern_notification,
    validate_modern_request,
    validate_param_headers,
)
from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError, Message, parse_message
from giru.mcp.versions import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION,
    UNSUPPORTED_PROTOCOL_VERSION,
)

META = {META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}}


def call(method: str = "tools/call", **params: Any) -> Message:
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": {"_meta": META, **params}}
    return parse_message(orjson.dumps(body))


def test_from_pairs_folds_case_trims_ows_and_accepts_bytes() -> None:
    headers = McpHeaders.from_pairs(
        [
            (b"MCP-Protocol-Version", b" 2026-07-28\t"),
            ("mcp-METHOD", "tools/call"),
            ("Mcp-Name", "get_weather"),
            ("Mcp-Param-Region", "us-west1"),
            ("mcp-param-", "ignored: no name"),
            ("Content-Type", "application/json"),
            ("X-Other", "\x01 not ours"),
        ]
    )
    assert headers == McpHeaders("2026-07-28", "tools/call", "get_weather", {"region": "us-west1"})


@pytest.mark.parametrize(
    "pairs",
    [
        [("Mcp-Method", "a"), ("mcp-method", "a")],
        [("Mcp-Param-A", "1"), ("MCP-PARAM-a", "1")],
        [("Mcp-Name", "a\x00b")],
        [("Mcp-Param-X", "line1\nline2")],
        [(b"Mcp-Name", "caf\u00e9".encode())],
    ],
)
def test_duplicate_or_invalid_mcp_headers_are_header_mismatch(pairs: Any) -> None:
    with pytest.raises(JsonRpcError) as caught:
        McpHeaders.from_pairs(pairs)
    assert (caught.value.code, caught.value.http_status) == (HEADER_MISMATCH, 400)


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("us-west1", "us-west1"),
        ("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界"),
        ("=?base64?IHBhZGRlZCA=?=", " padded "),
        ("=?base64?bGluZTEKbGluZTI=?=", "line1\nline2"),
        ("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?="),
        ("=?base64??=", ""),
        ("=?base64?=", "=?base64?="),
        ("=?BASE64?YQ==?=", "=?BASE64?YQ==?="),
    ],
)
def test_decode_header_value(value: str, decoded: str) -> None:
    assert decode_header_value(value) == decoded


@pytest.mark.parametrize(
    "value",
    ["=?base64?YQ?=", "=?base64?YQ=?=", "=?base64?Y===?=", "=?base64?YW-i?=", "=?base64?/w==?="],
)
def test_bad_base64_padding_alphabet_or_utf8_is_header_mismatch(value: str) -> None:
    with pytest.raises(JsonRpcError) as caught:
        decode_header_value(value, id=2)
    assert (caught.value.code, caught.value.id) == (HEADER_MISMATCH, 2)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        ("", "=?base64??="),
    ],
)
def test_encode_header_value_matches_spec_examples(value: str, encoded: str) -> None:
    assert encode_header_value(value) == encoded


@given(st.text())
def test_header_value_encoding_round_trips(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert decode_header_value(encode_header_value(value)) == value


def good_headers(**overrides: Any) -> McpHeaders:
    fields: dict[str, Any] = {
        "protocol_version": "2026-07-28",
        "method": "tools/call",
        "name": "get_weather",
    }
    fields.update(overrides)
    return McpHeaders(**fields)


def test_matching_headers_return_the_envelope() -> None:
    envelope = validate_modern_request(good_headers(), call(name="get_weather"))
    assert envelope.protocol_version == "2026-07-28"
    plain = call("tools/list")
    assert validate_modern_request(good_headers(method="tools/list", name=None), plain)
    uri = call("resources/read", uri="file:///a b")
    encoded = good_headers(method="resources/read", name=encode_header_value("file:///a b"))
    assert validate_modern_request(encoded, uri)


@pytest.mark.parametrize(
    ("headers", "msg", "code"),
    [
        (good_headers(protocol_version=None), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(protocol_version="2025-11-25"), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(method=None), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(method="TOOLS/CALL"), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(name=None), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(name="other"), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(name="=?base64?Zm9v?="), call(name="get_weather"), HEADER_MISMATCH),
        (good_headers(), call(), INVALID_PARAMS),
        (good_headers(method="prompts/get"), call("prompts/get", name=7), INVALID_PARAMS),
    ],
)
def test_header_body_disagreement_is_rejected(headers: McpHeaders, msg: Message, code: int) -> None:
    with pytest.raises(JsonRpcError) as caught:
        validate_modern_request(headers, msg)
    assert (caught.value.code, caught.value.http_status, caught.value.id) == (code, 400, 9)


def test_unsupported_version_in_agreeing_header_and_meta_is_32022() -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {"_meta": {**META, META_PROTOCOL_VERSION: "1900-01-01"}},
    }
    headers = McpHeaders("1900-01-01", "tools/list")
    with pytest.raises(JsonRpcError) as caught:
        validate_modern_request(headers, parse_message(orjson.dumps(body)))
    assert caught.value.code == UNSUPPORTED_PROTOCOL_VERSION
    assert caught.value.data is not None
    assert caught.value.data["requested"] == "1900-01-01"


def test_notification_method_header_must_match_when_sent() -> None:
    note = parse_message(b'{"jsonrpc":"2.0","method":"notifications/cancelled"}')
    validate_modern_notification(McpHeaders(), note)
    validate_modern_notification(McpHeaders(method="notifications/cancelled"), note)
    with pytest.raises(JsonRpcError) as caught:
        validate_modern_notification(McpHeaders(method="ping"), note)
    assert caught.value.code == HEADER_MISMATCH


SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
        "outer": {"type": "object", "properties": {"t": {"type": "string", "x-mcp-header": "T"}}},
        "query": {"type": "string"},
    },
}


def test_param_headers_finds_reachable_annotations_in_order() -> None:
    assert param_headers(SCHEMA) == (
        ParamHeader(("region",), "Region", "string"),
        ParamHeader(("count",), "Count", "integer"),
        ParamHeader(("dry",), "Dry-Run", "boolean"),
        ParamHeader(("outer", "t"), "T", "string"),
    )
    assert param_headers({"type": "object"}) == ()
    assert param_headers(None) == ()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "x-mcp-header": "Root"},
        {"properties": {"a": {"type": "string", "x-mcp-header": ""}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": "A B"}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": "A\r\n"}}},
        {"properties": {"a": {"type": "string", "x-mcp-header": 5}}},
        {"properties": {"a": {"type": "number", "x-mcp-header": "A"}}},
        {"properties": {"a": {"type": "object", "x-mcp-header": "A"}}},
        {
            "properties": {
                "a": {"type": "string", "x-mcp-header": "Dup"},
                "b": {"type": "string", "x-mcp-header": "dup"},
            }
        },
        {"properties": {"a": {"items": {"type": "string", "x-mcp-header": "A"}}}},
        {"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}},
        {"$defs": {"d": {"type": "string", "x-mcp-header": "A"}}},
        {"if": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}},
    ],
)
def test_invalid_annotations_exclude_the_tool(schema: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="x-mcp-header"):
        param_headers(schema)


DECLARED = param_headers(SCHEMA)


@pytest.mark.parametrize(
    ("arguments", "params"),
    [
        ({"region": "us-west1"}, {"region": "us-west1"}),
        ({"count": 42}, {"count": "42"}),
        ({"count": 42}, {"count": "42.0"}),
        ({"count": 42.0}, {"count": "42"}),
        ({"dry": False}, {"dry-run": "false"}),
        ({"outer": {"t": "é"}}, {"t": "=?base64?w6k=?="}),
        ({"region": None, "query": "x"}, {"region": "ignored when the value is null"}),
        ({"outer": "not an object"}, {}),
        (None, {}),
    ],
)
def test_param_headers_matching_the_body_pass(arguments: Any, params: dict[str, str]) -> None:
    validate_param_headers(DECLARED, arguments, McpHeaders(params=params))


@pytest.mark.parametrize(
    ("arguments", "params", "code"),
    [
        ({"region": "us-west1"}, {}, HEADER_MISMATCH),
        ({"region": "us-west1"}, {"region": "eu"}, HEADER_MISMATCH),
        ({"count": 42}, {"count": "0x2a"}, HEADER_MISMATCH),
        ({"count": 42}, {"count": "43"}, HEADER_MISMATCH),
        ({"dry": True}, {"dry-run": "True"}, HEADER_MISMATCH),
        ({"region": "x"}, {"region": "=?base64?eA?="}, HEADER_MISMATCH),
        ({"region": ["a"]}, {"region": "a"}, INVALID_PARAMS),
        ({"count": 2**60}, {"count": str(2**60)}, INVALID_PARAMS),
        ({"count": 1.5}, {"count": "1.5"}, INVALID_PARAMS),
    ],
)
def test_param_headers_disagreeing_with_the_body_are_rejected(
    arguments: Any, params: dict[str, str], code: int
) -> None:
    with pytest.raises(JsonRpcError) as caught:
        validate_param_headers(DECLARED, arguments, McpHeaders(params=params), id=5)
    assert (caught.value.code, caught.value.id) == (code, 5)


def test_outgoing_headers_mirror_the_body() -> None:
    msg = call(name="tool é", arguments={"region": " x ", "count": 3, "dry": True, "query": "q"})
    assert outgoing_headers(msg, DECLARED) == {
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "=?base64?dG9vbCDDqQ==?=",
        "Mcp-Param-Region": "=?base64?IHgg?=",
        "Mcp-Param-Count": "3",
        "Mcp-Param-Dry-Run": "true",
    }
    bare = parse_message(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert outgoing_headers(bare) == {"Mcp-Method": "tools/list"}
