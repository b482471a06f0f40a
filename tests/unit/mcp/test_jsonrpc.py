"""The envelope parser: exact ids, strict rejection (BAD-INPUT J1-J15)."""

from __future__ import annotations

import pytest

from giru.mcp.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    JsonRpcError,
    dumps,
    parse_message,
    result_response,
)


@pytest.mark.parametrize(
    "raw_id",
    [b"1", b'"abc"', b"1.50", b"12345678901234567890", b"1e400", b"-0", b"0.1"],
)
def test_request_id_is_echoed_byte_for_byte(raw_id: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"ping"}'
    message = parse_message(body)
    assert (
        dumps(result_response(message.id, {}))
        == b'{"jsonrpc":"2.0","id":' + raw_id + b',"result":{}}'
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc":"2.0",', PARSE_ERROR),
        (b"{}{}", PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":NaN,"method":"x"}', PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":"\\ud800","method":"x"}', PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"x"\xff}', PARSE_ERROR),
        (b"", PARSE_ERROR),
        (b'{"jsonrpc":"1.0","id":1,"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":2.0,"id":1,"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":null,"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":{},"method":"x"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"a","Method":"b"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"a","extra":1}', INVALID_REQUEST),
        (b'[{"jsonrpc":"2.0","id":1,"method":"a"}]', INVALID_REQUEST),
        (b"[]", INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"a","params":[1]}', INVALID_PARAMS),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"a","params":' + b"[" * 3 + b"]" * 3 + b"}",
            INVALID_PARAMS,
        ),
    ],
)
def test_bad_envelope_is_rejected_with_specific_code(body: bytes, code: int) -> None:
    with pytest.raises(JsonRpcError) as caught:
        parse_message(body)
    assert caught.value.code == code


def test_nesting_deeper_than_limit_is_rejected() -> None:
    deep = b"[" * 70 + b"]" * 70
    body = b'{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":' + deep + b"}}"
    with pytest.raises(JsonRpcError) as caught:
        parse_message(body)
    assert caught.value.code == INVALID_REQUEST
    assert "deeper" in caught.value.message


@pytest.mark.parametrize(
    ("body", "code", "echoed_id"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":5}', INVALID_REQUEST, 7),
        (b'{"jsonrpc":"2.0","id":1,"method":"a","params":{"a":["\\ud800"]}}', PARSE_ERROR, None),
        (b'{"jsonrpc":"1.0","id":"' + b"x" * 300 + b'","method":"a"}', INVALID_REQUEST, None),
    ],
)
def test_rejections_echo_an_id_only_when_it_is_safe(
    body: bytes, code: int, echoed_id: object
) -> None:
    with pytest.raises(JsonRpcError) as caught:
        parse_message(body)
    assert (caught.value.code, caught.value.id) == (code, echoed_id)


def test_error_response_with_null_id_and_data_round_trips() -> None:
    message = parse_message(b'{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}')
    assert message.kind == "response"
    assert message.id_key == b"null"
    error = JsonRpcError(-32022, "Unsupported protocol version", data={"supported": []})
    assert error.to_response() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": []},
        },
    }


@pytest.mark.parametrize(
    "raw_id",
    [rb'"\u00e9"', rb'"a\"b"', rb'"\/path"', rb'"tab\there"', rb'"\ud83d\ude00"'],
)
def test_string_id_written_with_escapes_is_echoed_as_written(raw_id: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":' + raw_id + b',"method":"ping","params":{"x":"\\n"}}'
    message = parse_message(body)
    assert (
        dumps(result_response(message.id, {}))
        == b'{"jsonrpc":"2.0","id":' + raw_id + b',"result":{}}'
    )


def test_plain_string_id_stays_a_string_when_other_members_have_escapes() -> None:
    message = parse_message(b'{"jsonrpc":"2.0","id":"plain","method":"ping","params":{"x":"\\n"}}')
    assert message.id == "plain"


@pytest.mark.parametrize(
    "params",
    [
        b'{"a":1,"a":2}',
        b'{"a":{"b":1,"b":1}}',
        b'{"a:":1,"a:":2}',
        b'{"x":"q\\"uo:te","x":1}',
        b'[{"k":1},{"k":1,"k":1}]',
    ],
)
def test_a_key_written_twice_anywhere_is_refused(params: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"a","params":{"p":' + params + b"}}"
    with pytest.raises(JsonRpcError) as caught:
        parse_message(body)
    assert caught.value.code == INVALID_REQUEST
    assert "duplicate" in caught.value.message


@pytest.mark.parametrize(
    "value",
    [
        b"1.50",
        b"-0",
        b"1E5",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"[0.1, -0]",
        b'2.0,"v":"2.0"',  # the number beside the string every message holds
    ],
)
def test_numbers_in_params_are_forwarded_as_written(value: bytes) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"a","params":{"n":' + value + b"}}"
    message = parse_message(body)
    assert dumps(message.params) == b'{"n":' + value.replace(b" ", b"") + b"}"


def test_a_body_with_a_byte_order_mark_is_refused() -> None:
    with pytest.raises(JsonRpcError) as caught:
        parse_message(b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"a"}')
    assert caught.value.code == PARSE_ERROR
