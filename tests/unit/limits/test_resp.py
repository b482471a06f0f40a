"""The RESP2 codec of the limiter's Redis client (however the bytes are chunked) and its URLs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.limits.resp import RespAddress, RespClient, parse_url
from giru.limits.wire import (
    INCOMPLETE,
    RespNoScriptError,
    RespParser,
    RespProtocolError,
    RespReplyError,
    encode_command,
)

REPLIES: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", "OK"),
    (b":42\r\n", 42),
    (b":-7\r\n", -7),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # CRLF inside a bulk string is data
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*5\r\n:0\r\n:0\r\n:0\r\n:17\r\n:230\r\n", [0, 0, 0, 17, 230]),  # an ADMIT answer
    (b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n*1\r\n*0\r\n", [1, [b"a", None], [[]]]),
]


def pop_all(parser: RespParser) -> list[Any]:
    replies = []
    while (reply := parser.pop()) is not INCOMPLETE:
        replies.append(reply)
    return replies


@pytest.mark.parametrize(("wire", "expected"), REPLIES)
def test_a_reply_fed_byte_by_byte_is_whole_only_after_its_last_byte(
    wire: bytes, expected: Any
) -> None:
    parser = RespParser()
    for index in range(len(wire) - 1):
        parser.feed(wire[index : index + 1])
        assert parser.pop() is INCOMPLETE
    parser.feed(wire[-1:])
    assert pop_all(parser) == [expected]


def test_several_replies_in_one_chunk_come_out_in_order() -> None:
    parser = RespParser()
    parser.feed(b"".join(wire for wire, _ in REPLIES) + b":1")  # and the start of one more
    assert pop_all(parser) == [expected for _, expected in REPLIES]
    parser.feed(b"\r\n")
    assert pop_all(parser) == [1]


def test_error_replies_are_returned_as_errors_with_their_message() -> None:
    parser = RespParser()
    parser.feed(b"-ERR wrong type\r\n-NOSCRIPT No matching script.\r\n*2\r\n:1\r\n-ERR inner\r\n")
    plain, noscript, array = pop_all(parser)
    assert type(plain) is RespReplyError
    assert plain.message == "ERR wrong type"
    assert isinstance(noscript, RespNoScriptError)
    assert noscript.message == "NOSCRIPT No matching script."
    assert array[0] == 1
    assert isinstance(array[1], RespReplyError)
    assert array[1].message == "ERR inner"


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"!oops\r\n", "unknown reply type b'!'"),
        (b"\r\n", "unknown reply type b'\\r'"),
        (b"$abc\r\n", "not a number: b'$abc'"),
        (b":12x\r\n", "not a number: b':12x'"),
        (b"$-2\r\n", "a negative length: -2"),
        (b"*-5\r\n", "a negative length: -5"),
        (b"$1\r\nab\r\n", "a bulk string longer than its length"),
        (b"+" + b"a" * 70_000, "a reply line longer than 65536 bytes"),
    ],
)
def test_junk_is_a_protocol_error(wire: bytes, problem: str) -> None:
    parser = RespParser()
    parser.feed(wire)
    with pytest.raises(RespProtocolError, match=re.escape(problem)):
        parser.pop()


def wire_of(value: Any) -> bytes:
    """The RESP2 bytes Redis would send for `value` (str: simple string, bytes: bulk)."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str):
        return b"+%s\r\n" % value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%b\r\n" % (len(value), value)
    return b"*%d\r\n" % len(value) + b"".join(wire_of(item) for item in value)


# Redis sends simple strings as UTF-8: no CR/LF, and no lone surrogates (they have no UTF-8 form).
simple_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10)
reply_values = st.recursive(
    st.none() | st.integers() | st.binary(max_size=20) | simple_text,
    lambda children: st.lists(children, max_size=4),
    max_leaves=12,
)


@given(st.lists(reply_values, max_size=6), st.data())
def test_replies_cut_anywhere_parse_to_what_was_sent(
    values: list[Any], data: st.DataObject
) -> None:
    wire = b"".join(wire_of(value) for value in values)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    parser = RespParser()
    replies: list[Any] = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        parser.feed(wire[start:end])
        replies += pop_all(parser)
    assert replies == values


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert encode_command(["SET", "ключ", 5, b"\x00\xff"]) == (
        b"*4\r\n$3\r\nSET\r\n$8\r\n\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\r\n$1\r\n5\r\n$2\r\n\x00\xff\r\n"
    )
    assert encode_command(["EVALSHA", "", -1]) == b"*3\r\n$7\r\nEVALSHA\r\n$0\r\n\r\n$2\r\n-1\r\n"


def test_an_argument_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="not float"):
        encode_command(["SET", "k", 1.5])  # type: ignore[list-item]


@given(st.lists(st.text() | st.binary() | st.integers(), min_size=1, max_size=8))
def test_commands_read_back_as_their_arguments(args: list[str | int | bytes]) -> None:
    parser = RespParser()
    parser.feed(encode_command(args))
    expected = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    assert pop_all(parser) == [expected]


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://localhost", RespAddress("localhost", 6379)),
        ("redis://redis.internal:6380/2", RespAddress("redis.internal", 6380, db=2)),
        ("redis://10.0.0.5/?db=4", RespAddress("10.0.0.5", db=4)),
        ("redis://[::1]:7000/0", RespAddress("::1", 7000)),
        ("redis://:s3cret@cache/1", RespAddress("cache", db=1, password="s3cret")),
        (
            "redis://app:p%40ss@cache:1234",
            RespAddress("cache", 1234, username="app", password="p@ss"),
        ),
        ("rediss://cache.example.com:6380", RespAddress("cache.example.com", 6380, tls=True)),
        ("REDISS://cache.example.com", RespAddress("cache.example.com", tls=True)),
        ("unix:///run/redis/redis.sock", RespAddress(path="/run/redis/redis.sock")),
        ("unix:///run/redis.sock?db=3", RespAddress(path="/run/redis.sock", db=3)),
        (
            "unix://:pw@/run/redis.sock?db=1",
            RespAddress(path="/run/redis.sock", db=1, password="pw"),
        ),
    ],
)
def test_redis_urls_name_where_and_how_to_connect(url: str, address: RespAddress) -> None:
    assert parse_url(url) == address


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://cache:6379", "unsupported Redis URL scheme 'http': use redis, rediss or unix"),
        ("cache:6379", "unsupported Redis URL scheme 'cache'"),
        ("redis-sentinel://cache", "unsupported Redis URL scheme 'redis-sentinel'"),
        ("redis:///0", "a redis:// Redis URL needs a host"),
        ("unix://", "a unix:// Redis URL needs a socket path"),
        ("redis://cache:99999/0", "port is not a number from 0 to 65535"),
        ("redis://:s3cret@cache/zero", "database is not a number: 'zero'"),
        ("unix:///run/redis.sock?db=-1", "database is not a number: '-1'"),
        ("redis://cache/0?socket_timeout=5&ssl_cert_reqs=none", "options: socket_timeout, ssl_"),
        ("redis://app@cache/0", "a user name needs a password"),
    ],
)
def test_an_unusable_url_is_refused_by_name(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as caught:
        RespClient(url, timeout_s=1)
    assert "s3cret" not in str(caught.value)


def test_an_address_reads_without_its_credentials() -> None:
    assert str(parse_url("redis://app:s3cret@cache:6380/2")) == "cache:6380 db 2"
    assert str(parse_url("unix://:s3cret@/run/redis.sock")) == "unix:/run/redis.sock db 0"
