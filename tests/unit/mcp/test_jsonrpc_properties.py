"""Property tests: the envelope parser fails only with JsonRpcError, and ids round-trip."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import JsonRpcError, dumps, parse_message, result_response
from giru.mcp.versions import request_era

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_envelope_keys = st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "x"])
_envelopes = st.dictionaries(
    _envelope_keys, _json | st.sampled_from(["2.0", "tools/call", "initialize"]), max_size=5
)


def _parse_or_reject(raw: bytes) -> JsonRpcError | None:
    try:
        request_era("POST", None, parse_message(raw))
    except JsonRpcError as error:
        return error
    return None


def _check(error: JsonRpcError | None) -> None:
    if error is not None:
        assert error.http_status == 400
        assert isinstance(error.to_response()["error"]["code"], int)


@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_raise_anything_but_jsonrpc_error(raw: bytes) -> None:
    _check(_parse_or_reject(raw))


@given(_json | _envelopes)
def test_arbitrary_json_values_never_raise_anything_but_jsonrpc_error(value: Any) -> None:
    try:
        raw = orjson.dumps(value)
    except orjson.JSONEncodeError:  # strings with lone surrogates cannot be encoded
        return
    _check(_parse_or_reject(raw))


@given(
    st.integers(-(10**30), 10**30).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str).filter(lambda t: "E" not in t)
    | st.text(max_size=64).map(lambda t: orjson.dumps(t).decode())
)
def test_ids_round_trip_byte_for_byte(raw_id: str) -> None:
    try:
        message = parse_message(f'{{"jsonrpc":"2.0","id":{raw_id},"method":"m"}}'.encode())
    except JsonRpcError:
        return  # e.g. not JSON grammar ("inf", "1.") or an over-long string id
    echoed = dumps(result_response(message.id, None))
    assert echoed == f'{{"jsonrpc":"2.0","id":{raw_id},"result":null}}'.encode()


def _careful(raw: bytes) -> Any:
    """What the stdlib decoder with the parser's hooks makes of `raw` (the reference)."""
    return jsonrpc._DECODER.decode(raw.decode("utf-8"))


_keys = st.sampled_from(["a", "b", "id", 'q"uo:te', "é", "\\"]) | st.text(max_size=4)
_texts = st.recursive(
    st.sampled_from(
        ["1", "-0", "0.5", "1e5", "12345678901234567890", '"x:y"', "true", "null", "2.0", '"2.0"']
    )
    | st.text(max_size=6).map(lambda t: orjson.dumps(t).decode()),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + " , ".join(items) + "]")
        | st.lists(st.tuples(_keys, inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{orjson.dumps(k).decode()} :{v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=12,
)


@given(_texts)
def test_params_decode_to_what_the_careful_decoder_makes_of_them(params: str) -> None:
    raw = f'{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"x":{params}}}}}'.encode()
    try:
        expected: Any = _careful(raw)
    except ValueError:  # a key twice: refused either way
        with pytest.raises(JsonRpcError):
            parse_message(raw)
        return
    try:
        jsonrpc._check_shape(expected, jsonrpc.ParseLimits())
    except JsonRpcError as error:  # too deep or too wide: said by both
        with pytest.raises(JsonRpcError, match=re.escape(error.message)):
            parse_message(raw)
        return
    message = parse_message(raw)
    assert dumps(message.raw) == dumps(expected)
    assert _types(message.raw) == _types(expected)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__
