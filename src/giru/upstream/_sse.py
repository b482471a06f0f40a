"""An incremental, sans-IO decoder for `text/event-stream` (WHATWG HTML, server-sent events).

Private until `giru.mcp.sse` exists; bounded so a hostile upstream cannot grow memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseDecoder", "SseEvent", "SseTooLargeError"]


class SseTooLargeError(ValueError):
    """A line or an event exceeded the decoder's cap."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    id: str | None
    retry_ms: int | None


class SseDecoder:
    """Feed bytes, get complete events. `last_event_id` persists across events, as in browsers."""

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes
        self._buffer = bytearray()
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._retry: int | None = None
        self._id_seen = False
        self.last_event_id: str | None = None
        self._first = True

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Decode `chunk`; raises `SseTooLargeError` or `UnicodeDecodeError` on bad input."""
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            line = self._next_line()
            if line is None:
                break
            event = self._line(line)
            if event is not None:
                events.append(event)
        if len(self._buffer) > self._max:
            raise SseTooLargeError("SSE line too long")
        return events

    def _next_line(self) -> str | None:
        buf = self._buffer
        newline = buf.find(b"\n")
        carriage = buf.find(b"\r", 0, newline if newline >= 0 else len(buf))
        cut = carriage if carriage >= 0 else newline
        if cut < 0 or (buf[cut] == 0x0D and cut + 1 == len(buf)):
            return None  # no line yet, or a CR that may be followed by LF
        end = cut + 2 if buf[cut] == 0x0D and buf[cut + 1] == 0x0A else cut + 1
        raw = bytes(buf[:cut])
        del buf[:end]
        text = raw.decode("utf-8")
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        return text

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                raise SseTooLargeError("SSE event too large")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
            self._id_seen = True
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        has_data = bool(self._data)
        event = SseEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self.last_event_id if self._id_seen else None,
            retry_ms=self._retry,
        )
        self._data, self._data_size, self._event = [], 0, ""
        self._retry, self._id_seen = None, False
        if not has_data and event.id is None and event.retry_ms is None:
            return None
        return event
