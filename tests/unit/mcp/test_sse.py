"""SSE framing: encoder output, WHATWG decoding rules, bounded events, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.mcp.sse import (
    KEEPALIVE,
    SseDecodeError,
    SseDecoder,
    SseEvent,
    encode_comment,
    encode_event,
    priming_event,
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": b"{}"}, b"data: {}\n\n"),
        ({"data": b"a\nb"}, b"data: a\ndata: b\n\n"),
        ({"data": b"a\r\nb\rc"}, b"data: a\ndata: b\ndata: c\n\n"),
        ({"data": b""}, b"data:\n\n"),
        (
            {"data": b"x", "event": "message", "id": "7", "retry_ms": 500},
            b"event: message\nid: 7\nretry: 500\ndata: x\n\n",
        ),
    ],
)
def test_encode_event_writes_one_field_per_line(kwargs: dict[str, object], expected: bytes) -> None:
    data = kwargs.pop("data")
    assert isinstance(data, bytes)
    assert encode_event(data, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"event": "a\nb"}, {"id": "a\rb"}, {"id": "a\0b"}, {"retry_ms": -1}],
)
def test_encode_event_refuses_field_injection(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"SSE|retry"):
        encode_event(b"x", **kwargs)  # type: ignore[arg-type]


def test_priming_event_has_id_retry_and_empty_data() -> None:
    frame = priming_event("s1-0", 1000)
    assert frame == b"id: s1-0\nretry: 1000\ndata:\n\n"
    decoder = SseDecoder()
    assert decoder.feed(frame) == [SseEvent(data="", id="s1-0", retry=1000)]
    assert (decoder.last_event_id, decoder.retry_ms) == ("s1-0", 1000)


def test_comments_encode_and_are_ignored() -> None:
    assert encode_comment() == KEEPALIVE
    assert encode_comment("ping") == b": ping\n\n"
    with pytest.raises(ValueError, match="line break"):
        encode_comment("a\nb")
    assert SseDecoder().feed(encode_comment("ping") + KEEPALIVE) == []


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\r\n\r\n", [SseEvent("a")]),
        (b"data: a\r\rdata: b\r\r", [SseEvent("a"), SseEvent("b")]),
        (b"data: a\ndata: b\n\n", [SseEvent("a\nb")]),
        (b"data:a\n\n", [SseEvent("a")]),
        (b"data:  a\n\n", [SseEvent(" a")]),
        (b"data\n\n", [SseEvent("")]),
        (b"\xef\xbb\xbfdata: a\n\n", [SseEvent("a")]),
        (b"event: x\nid: 1\nretry: 10\ndata: a\n\n", [SseEvent("a", "x", "1", 10)]),
        (b"event:\ndata: a\n\n", [SseEvent("a")]),
        (b"retry: 1x\ndata: a\n\n", [SseEvent("a")]),
        (b"id: a\0b\ndata: a\n\n", [SseEvent("a")]),
        (b"foo: bar\ndata: a\n\n", [SseEvent("a")]),
        (b"id: 5\nretry: 9\n\n", []),
        (b"data: a\n", []),
        (b": only a comment\n\n", []),
    ],
)
def test_decoder_follows_whatwg_interpretation(stream: bytes, expected: list[SseEvent]) -> None:
    assert SseDecoder().feed(stream) == expected


def test_decoder_keeps_last_event_id_and_retry_across_events() -> None:
    decoder = SseDecoder()
    decoder.feed(b"id: 5\nretry: 9\n\n")
    assert decoder.feed(b"data: a\n\n") == [SseEvent("a")]
    assert (decoder.last_event_id, decoder.retry_ms) == ("5", 9)


def test_bom_is_stripped_only_at_stream_start_even_when_split() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    # a later BOM is part of a field name ("\ufeffdata"), so that field is ignored
    assert decoder.feed(b"\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n") == [SseEvent("a")]


def test_short_prefix_that_is_not_a_bom_is_kept() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"d") == []
    assert decoder.feed(b"ata: a\n\n") == [SseEvent("a")]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [SseEvent("a")]
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\n\n") == [SseEvent("b")]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: " + b"x" * 100 + b"\n"],
        [b"data: " + b"x" * 50 + b"\n", b"data: " + b"x" * 50 + b"\n"],
        [b"data: " + b"x" * 200],
        [b"data: " + b"x" * 60, b"x" * 60],
    ],
)
def test_event_larger_than_cap_raises(chunks: list[bytes]) -> None:
    decoder = SseDecoder(max_event_bytes=100)
    for chunk in chunks[:-1]:
        assert decoder.feed(chunk) == []
    with pytest.raises(SseDecodeError, match="larger than 100 bytes"):
        decoder.feed(chunks[-1])


def test_cap_resets_after_each_event() -> None:
    decoder = SseDecoder(max_event_bytes=20)
    for _ in range(10):
        assert decoder.feed(b"data: 0123456789\n\n") == [SseEvent("0123456789")]


def test_invalid_utf8_is_rejected_not_replaced() -> None:
    with pytest.raises(SseDecodeError, match="UTF-8"):
        SseDecoder().feed(b"data: \xff\n\n")


_texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\0"))


@given(
    data=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r")),
    event=st.none() | _texts.filter(bool),
    event_id=st.none() | _texts,
    retry=st.none() | st.integers(0, 2**31),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_encode_then_decode_round_trips_under_any_chunking(
    data: str, event: str | None, event_id: str | None, retry: int | None, cuts: list[int]
) -> None:
    frame = encode_event(data.encode(), event=event, id=event_id, retry_ms=retry)
    stream = frame * 2
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    decoder = SseDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    assert events == [SseEvent(data, event, event_id, retry)] * 2
