"""The private SSE decoder and the small sans-IO pieces of the connectors."""

from __future__ import annotations

import pytest

from giru.errors import UpstreamProtocolError, UpstreamUnavailableError
from giru.mcp.headers import encode_header_value
from giru.upstream._http_io import resolve_endpoint
from giru.upstream._process import CrashLoopGuard, StderrTail
from giru.upstream._sse import SseDecoder, SseEvent, SseTooLargeError


def test_events_split_across_chunks_are_reassembled() -> None:
    decoder = SseDecoder(1024)
    assert decoder.feed(b"id: 7\r\nretry: 50") == []
    assert decoder.feed(b'0\r\ndata: {"a":\ndata: 1}\r\n') == []
    assert decoder.feed(b"\r\n") == [SseEvent("message", '{"a":\n1}', "7", 500)]


def test_priming_event_without_data_carries_its_id() -> None:
    decoder = SseDecoder(1024)
    assert decoder.feed(b"id: p1\ndata:\n\n") == [SseEvent("message", "", "p1", None)]
    assert decoder.last_event_id == "p1"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b": comment\n\n", []),
        (
            b"event: endpoint\ndata: /messages/?s=1\n\n",
            [SseEvent("endpoint", "/messages/?s=1", None, None)],
        ),
        (b"\xef\xbb\xbfdata: x\n\n", [SseEvent("message", "x", None, None)]),
        (b"data:x\rdata: y\r\r\n", [SseEvent("message", "x\ny", None, None)]),
        (b"retry: soon\ndata: z\n\n", [SseEvent("message", "z", None, None)]),
    ],
)
def test_decoder_table(wire: bytes, expected: list[SseEvent]) -> None:
    assert SseDecoder(1024).feed(wire) == expected


def test_oversized_event_is_refused() -> None:
    decoder = SseDecoder(16)
    with pytest.raises(SseTooLargeError):
        decoder.feed(b"data: " + b"x" * 20 + b"\n")


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        SseDecoder(1024).feed(b"data: \xff\n\n")


def test_endpoint_on_another_origin_is_refused() -> None:
    base = "http://127.0.0.1:8000/sse"
    assert resolve_endpoint("s", base, "/messages/?id=1") == "http://127.0.0.1:8000/messages/?id=1"
    with pytest.raises(UpstreamProtocolError):
        resolve_endpoint("s", base, "http://169.254.169.254/latest")
    with pytest.raises(UpstreamProtocolError):
        resolve_endpoint("s", base, "//evil.example/messages")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("echo", "echo"), ("a b", "a b"), (" lead", "=?base64?IGxlYWQ=?="), ("é", "=?base64?w6k=?=")],
)
def test_header_values_survive_http(value: str, expected: str) -> None:
    assert encode_header_value(value) == expected


def test_stderr_tail_is_bounded() -> None:
    tail = StderrTail(max_bytes=100, max_line=10)
    for n in range(100):
        tail.add(f"line {n} with a long tail\n".encode())
    assert len(tail.text()) <= 100
    assert tail.text().endswith("line 99 wi")


def test_crash_loop_guard_backs_off_then_stops() -> None:
    guard = CrashLoopGuard(max_exits=3, window=60, cooldown=60, base_delay=1, max_delay=8)
    assert guard.delay("s") == 0
    guard.record_exit()
    assert 0 < guard.delay("s") <= 1
    guard.record_exit()
    assert 1 < guard.delay("s") <= 2
    guard.record_exit()
    with pytest.raises(UpstreamUnavailableError) as caught:
        guard.delay("s")
    assert caught.value.data["reason"] == "crash_loop"
