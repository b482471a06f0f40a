"""Server-Sent Events framing, sans-IO: an encoder and an incremental, bounded decoder.

Follows the WHATWG "event stream interpretation": CRLF, CR or LF line endings, `:` comments,
`data`/`event`/`id`/`retry` fields, one leading BOM ignored. Decoding is strict UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "KEEPALIVE",
    "SseDecodeError",
    "SseDecoder",
    "SseEvent",
    "encode_comment",
    "encode_event",
    "priming_event",
]

DEFAULT_MAX_EVENT_BYTES: Final = 4 * 1024 * 1024
KEEPALIVE: Final = b":\n\n"

_BOM: Final = b"\xef\xbb\xbf"
_EOL: Final = re.compile(rb"\r\n|\r|\n")
_LINE_BREAK: Final = re.compile(r"[\r\n]")
_DIGITS: Final = re.compile(rb"[0-9]+")


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event; `id` and `retry` are the values set within this event, if any."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class SseDecodeError(ValueError):
    """The stream is not valid SSE for Giru (oversized event, bad UTF-8); abandon it."""


def encode_event(
    data: bytes,
    *,
    event: str | None = None,
    id: str | None = None,
    retry_ms: int | None = None,
) -> bytes:
    """Encode one event; each line of `data` becomes a `data:` line."""
    out = bytearray()
    if event is not None:
        out += b"event: " + _field("event", event) + b"\n"
    if id is not None:
        if "\0" in id:
            raise ValueError("an SSE id must not contain NUL")
        out += b"id: " + _field("id", id) + b"\n"
    if retry_ms is not None:
        if retry_ms < 0:
            raise ValueError("retry must be a non-negative number of milliseconds")
        out += b"retry: %d\n" % retry_ms
    for line in _EOL.split(data):
        out += b"data: " + line + b"\n" if line else b"data:\n"
    out += b"\n"
    return bytes(out)


def _field(name: str, value: str) -> bytes:
    if _LINE_BREAK.search(value):
        raise ValueError(f"an SSE {name} must not contain a line break")
    return value.encode("utf-8")


def priming_event(event_id: str, retry_ms: int) -> bytes:
    """The 2025-11-25 priming event: an id, empty data and a `retry` the client must honour."""
    return encode_event(b"", id=event_id, retry_ms=retry_ms)


def encode_comment(text: str = "") -> bytes:
    """A comment (keep-alive) line; clients ignore it."""
    return b": " + _field("comment", text) + b"\n\n" if text else KEEPALIVE


class SseDecoder:
    """Incremental decoder: `feed` bytes in any chunking, get whole events out."""

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""  # persists across events, as a browser's lastEventId does
        self.retry_ms: int | None = None  # the latest valid `retry`
        self._buffer = bytearray()
        self._scanned = 0
        self._at_start = True
        self._skip_lf = False
        self._event_bytes = 0
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Consume `chunk`; return the events it completed."""
        buffer = self._buffer
        buffer += chunk
        if self._at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                return []
            self._at_start = False
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
        if self._skip_lf and buffer:
            self._skip_lf = False
            if buffer.startswith(b"\n"):
                del buffer[:1]
        start = 0
        events: list[SseEvent] = []
        while (end := _EOL.search(buffer, self._scanned)) is not None:
            self._skip_lf = end.group() == b"\r" and end.end() == len(buffer)
            event = self._line(bytes(buffer[start : end.start()]))
            if event is not None:
                events.append(event)
            start = self._scanned = end.end()
        del buffer[:start]
        self._scanned = len(buffer)  # the rest holds no line break: never rescan it
        self._check_size(len(buffer))
        return events

    def _line(self, line: bytes) -> SseEvent | None:
        if not line:
            return self._dispatch()
        self._check_size(len(line))
        self._event_bytes += len(line)
        if line.startswith(b":"):
            return None
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(_utf8(value))
        elif name == b"event":
            self._event = _utf8(value)
        elif name == b"id" and b"\0" not in value:
            self._id = self.last_event_id = _utf8(value)
        elif name == b"retry" and _DIGITS.fullmatch(value):
            self._retry = self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        event = None
        if self._data:
            data = "\n".join(self._data)
            event = SseEvent(data, event=self._event or None, id=self._id, retry=self._retry)
        self._data, self._event, self._id, self._retry = [], None, None, None
        self._event_bytes = 0
        return event

    def _check_size(self, pending: int) -> None:
        if self._event_bytes + pending > self.max_event_bytes:
            raise SseDecodeError(f"SSE event larger than {self.max_event_bytes} bytes")


def _utf8(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SseDecodeError("SSE stream is not valid UTF-8") from exc
