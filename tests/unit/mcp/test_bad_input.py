"""BAD-INPUT rows J1-J15, S5, S7, S8, S9 and M7 at the sans-IO level.

Each case runs the order a transport uses: parse the body, read the MCP headers, decide the era,
then validate the era's rules. Expected is the JSON-RPC code and HTTP status, or the message kind.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from giru.mcp.headers import McpHeaders, validate_modern_notification, validate_modern_request
from giru.mcp.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    JsonRpcError,
    Message,
    dumps,
    id_key,
    parse_message,
    result_response,
)
from giru.mcp.versions import (
    HEADER_MISMATCH,
    META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION,
    UNSUPPORTED_PROTOCOL_VERSION,
    legacy_version,
    request_era,
)

META = {META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}}
MODERN = [("MCP-Protocol-Version", "2026-07-28")]


def inbound(headers: list[tuple[str, str]], body: bytes) -> Message:
    """The sans-IO half of a POST: everything before routing to an upstream."""
    message = parse_message(body)
    mcp = McpHeaders.from_pairs(headers)
    if request_era("POST", mcp.protocol_version, message) == "legacy":
        legacy_version(mcp.protocol_version, id=message.id)
    elif message.kind == "request":
        validate_modern_request(mcp, message)
    else:
        validate_modern_notification(mcp, message)
    return message


def body(method: str = "tools/call", id: Any = 1, **params: Any) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params:
        message["params"] = params
    return orjson.dumps(message)


def modern(method: str, name: str | None = None) -> list[tuple[str, str]]:
    headers = [*MODERN, ("Mcp-Method", method)]
    return headers if name is None else [*headers, ("Mcp-Name", name)]


REJECTED = [
    ("J1 truncated", [], b'{"jsonrpc":"2.0",', PARSE_ERROR),
    ("J1 trailing garbage", [], b"{}{}", PARSE_ERROR),
    ("J1 BOM", [], b"\xef\xbb\xbf" + body(), PARSE_ERROR),
    ("J1 NaN", [], b'{"jsonrpc":"2.0","id":NaN,"method":"x"}', PARSE_ERROR),
    ("J1 Infinity", [], b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":Infinity}}', -32700),
    ("J1 comment", [], b'{"jsonrpc":"2.0",/*c*/"id":1,"method":"x"}', PARSE_ERROR),
    ("J1 single quotes", [], b"{'jsonrpc':'2.0','id':1,'method':'x'}", PARSE_ERROR),
    ("J2 invalid UTF-8", [], b'{"jsonrpc":"2.0","id":1,"method":"\xff"}', PARSE_ERROR),
    ("J2 overlong", [], b'{"jsonrpc":"2.0","id":1,"method":"\xc0\xaf"}', PARSE_ERROR),
    ("J2 lone surrogate", [], b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}', PARSE_ERROR),
    ("J3 missing", [], b'{"id":1,"method":"x"}', INVALID_REQUEST),
    ("J3 1.0", [], b'{"jsonrpc":"1.0","id":1,"method":"x"}', INVALID_REQUEST),
    ("J3 2.00", [], b'{"jsonrpc":"2.00","id":1,"method":"x"}', INVALID_REQUEST),
    ("J3 number", [], b'{"jsonrpc":2.0,"id":1,"method":"x"}', INVALID_REQUEST),
    ("J4 null id", [], b'{"jsonrpc":"2.0","id":null,"method":"x"}', INVALID_REQUEST),
    ("J6 object id", [], b'{"jsonrpc":"2.0","id":{},"method":"x"}', INVALID_REQUEST),
    ("J6 array id", [], b'{"jsonrpc":"2.0","id":[1],"method":"x"}', INVALID_REQUEST),
    ("J6 bool id", [], b'{"jsonrpc":"2.0","id":true,"method":"x"}', INVALID_REQUEST),
    ("J6 10 KB id", [], body(id="x" * 10_240), INVALID_REQUEST),
    ("J8 batch", [], b"[" + body() + b"," + body(id=2) + b"]", INVALID_REQUEST),
    ("J8 empty batch", [], b"[]", INVALID_REQUEST),
    ("J9 method twice", [], b'{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}', -32600),
    ("J9 Method", [], b'{"jsonrpc":"2.0","id":1,"method":"a","Method":"b"}', -32600),
    ("J9 METHOD", [], b'{"jsonrpc":"2.0","id":1,"method":"a","METHOD":"b"}', -32600),
    ("J9 long s", [], '{"jsonrpc":"2.0","id":1,"method":"a","\u017fd":1}'.encode(), -32600),
    ("J9 NUL key", [], b'{"jsonrpc":"2.0","id":1,"method":"a","method\\u0000":1}', -32600),
    ("J10 neither request nor response", [], b'{"jsonrpc":"2.0","id":1}', INVALID_REQUEST),
    ("J10 extra", [], b'{"jsonrpc":"2.0","id":1,"method":"a","extra":1}', INVALID_REQUEST),
    ("J10 result+error", [], b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', -32600),
    ("J10 method+result", [], b'{"jsonrpc":"2.0","id":1,"method":"a","result":{}}', -32600),
    ("J11 modern response", MODERN, b'{"jsonrpc":"2.0","id":1,"result":{}}', INVALID_REQUEST),
    ("J12 deep", [], body(params={"a": 1}).replace(b"1}", b"[" * 100 + b"]" * 100 + b"}"), -32600),
    ("J12 very deep", [], b'{"jsonrpc":"2.0","params":' + b"[" * 100_000, PARSE_ERROR),
    ("J13 wide", [], body(arguments=list(range(100_001))), INVALID_PARAMS),
    ("J14 hex", [], b'{"jsonrpc":"2.0","id":0x10,"method":"x"}', PARSE_ERROR),
    ("J14 leading zero", [], b'{"jsonrpc":"2.0","id":01,"method":"x"}', PARSE_ERROR),
    ("J14 5000 digits", [], body(id=0).replace(b":0,", b":" + b"9" * 5000 + b","), PARSE_ERROR),
    ("J15 array params", [], b'{"jsonrpc":"2.0","id":1,"method":"a","params":[1]}', -32602),
    ("J15 string params", [], b'{"jsonrpc":"2.0","id":1,"method":"a","params":"x"}', -32602),
    ("S5 legacy 1.0.0", [("MCP-Protocol-Version", "1.0.0")], body("tools/list"), -32022),
    ("S5 legacy 1900", [("MCP-Protocol-Version", "1900-01-01")], body("tools/list"), -32022),
    (
        "S5 modern 1900",
        [("MCP-Protocol-Version", "1900-01-01"), ("Mcp-Method", "tools/list")],
        body("tools/list", _meta={**META, META_PROTOCOL_VERSION: "1900-01-01"}),
        UNSUPPORTED_PROTOCOL_VERSION,
    ),
    (
        "S7 header differs from _meta",
        [("MCP-Protocol-Version", "2025-11-25"), ("Mcp-Method", "tools/list")],
        body("tools/list", _meta=META),
        HEADER_MISMATCH,
    ),
    ("S7 header missing", [("Mcp-Method", "tools/list")], body("tools/list", _meta=META), -32020),
    ("S8 no _meta", modern("tools/list"), body("tools/list"), INVALID_PARAMS),
    (
        "S8 no clientCapabilities",
        modern("tools/list"),
        body("tools/list", _meta={META_PROTOCOL_VERSION: "2026-07-28"}),
        INVALID_PARAMS,
    ),
    (
        "S8 no protocolVersion",
        modern("tools/list"),
        body("tools/list", _meta={META_CLIENT_CAPABILITIES: {}}),
        INVALID_PARAMS,
    ),
    ("S9 Mcp-Method missing", MODERN, body("tools/list", _meta=META), HEADER_MISMATCH),
    ("S9 Mcp-Method differs", modern("prompts/list"), body("tools/list", _meta=META), -32020),
    ("S9 value case", modern("TOOLS/LIST"), body("tools/list", _meta=META), HEADER_MISMATCH),
    ("S9 Mcp-Name missing", modern("tools/call"), body(name="t", _meta=META), HEADER_MISMATCH),
    ("S9 bad padding", modern("tools/call", "=?base64?dA?="), body(name="t", _meta=META), -32020),
    (
        "S9 bad alphabet",
        modern("tools/call", "=?base64?d_==?="),
        body(name="t", _meta=META),
        -32020,
    ),
    (
        "S9 duplicate header",
        [*modern("tools/list"), ("mcp-method", "x")],
        body("tools/list"),
        -32020,
    ),
    ("M7 Mcp-Name differs", modern("tools/call", "a"), body(name="b", _meta=META), HEADER_MISMATCH),
    (
        "M7 resources/read uri",
        modern("resources/read", "file:///a"),
        body("resources/read", uri="file:///etc/passwd", _meta=META),
        HEADER_MISMATCH,
    ),
]


@pytest.mark.parametrize(("row", "headers", "raw", "code"), REJECTED, ids=[r[0] for r in REJECTED])
def test_bad_input_row_is_rejected_with_400(
    row: str, headers: list[tuple[str, str]], raw: bytes, code: int
) -> None:
    with pytest.raises(JsonRpcError) as caught:
        inbound(headers, raw)
    assert (caught.value.code, caught.value.http_status) == (code, 400), row


ACCEPTED = [
    ("J5 tools/call without id", [], b'{"jsonrpc":"2.0","method":"tools/call"}', "notification"),
    (
        "J11 legacy response",
        [("MCP-Protocol-Version", "2025-11-25")],
        b'{"jsonrpc":"2.0","id":1,"result":{}}',
        "response",
    ),
    ("S5 no header is 2025-03-26", [], body("tools/list"), "request"),
    ("S7 matching", modern("tools/list"), body("tools/list", _meta=META), "request"),
    (
        "S9 header name case and OWS",
        [("mcp-protocol-version", " 2026-07-28 "), ("MCP-METHOD", "tools/list")],
        body("tools/list", _meta=META),
        "request",
    ),
    (
        "M7 base64 name",
        modern("prompts/get", "=?base64?w6k=?="),
        body("prompts/get", name="é", _meta=META),
        "request",
    ),
]


@pytest.mark.parametrize(("row", "headers", "raw", "kind"), ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_valid_input_passes_the_sans_io_checks(
    row: str, headers: list[tuple[str, str]], raw: bytes, kind: str
) -> None:
    assert inbound(headers, raw).kind == kind, row


@pytest.mark.parametrize(
    "raw_id", [b"1.5", b"1e400", b"12345678901234567890", b"-0", b'"' + b"x" * 256 + b'"']
)
def test_j6_j14_accepted_ids_are_echoed_byte_for_byte(raw_id: bytes) -> None:
    message = parse_message(b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"ping"}')
    assert (
        dumps(result_response(message.id, {}))
        == b'{"jsonrpc":"2.0","id":' + raw_id + b',"result":{}}'
    )


def test_j7_duplicate_ids_share_an_identity_and_distinct_ids_do_not() -> None:
    keys = [id_key(parse_message(body(id=i)).id) for i in (1, 1, "1")]
    assert keys[0] == keys[1] != keys[2]
    as_float = parse_message(b'{"jsonrpc":"2.0","id":1.0,"method":"x"}')
    assert id_key(as_float.id) != keys[0]  # ids are compared as received, never coerced
