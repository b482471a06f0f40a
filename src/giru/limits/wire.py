"""RESP2, the Redis wire format, without I/O: `encode_command` and the incremental `RespParser`,
and the errors a reply or a broken stream raise (used by `giru.limits.resp.RespClient`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

__all__ = [
    "INCOMPLETE",
    "RespConnectionError",
    "RespNoScriptError",
    "RespParser",
    "RespProtocolError",
    "RespReplyError",
    "encode_command",
]

INCOMPLETE: Final[Any] = object()  # `RespParser.pop`: no whole reply buffered yet
_MAX_LINE: Final = 1 << 16  # a reply line (type, length, simple string) longer than this is junk
_ARRAY, _INTEGER, _BULK, _SIMPLE, _ERROR = b"*:$+-"


class RespConnectionError(ConnectionError):
    """The connection failed (connect, AUTH/SELECT, timeout, loss): every pending command fails."""


class RespProtocolError(RespConnectionError):
    """Redis sent bytes that are not a RESP2 reply: the replies can no longer be matched."""


class RespReplyError(Exception):
    """An error reply (`-ERR …`) to one command; the connection stays up."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RespNoScriptError(RespReplyError):
    """EVALSHA of a script Redis does not hold (`-NOSCRIPT …`)."""


def encode_command(args: Sequence[str | int | bytes]) -> bytes:
    """A command as a RESP array of bulk strings (str as UTF-8, int in decimal)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            raise TypeError(f"a Redis argument is str, int or bytes, not {type(arg).__name__}")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class RespParser:
    """Incremental RESP2 reply parser (sans-IO): `feed` bytes as they come, `pop` whole replies.

    Bulk strings are `bytes`, simple strings `str`, integers `int`, nil `None`, arrays `list`; an
    error reply is a `RespReplyError` instance (returned, not raised). A reply split across
    chunks is parsed again from its start once more bytes come: replies here are small.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def pop(self) -> Any:
        """The next whole reply, or `INCOMPLETE`; raises `RespProtocolError` on junk."""
        parsed = _parse(self._buffer, self._pos)
        if parsed is None:
            return INCOMPLETE
        reply, self._pos = parsed
        return reply


def _parse(buffer: bytearray, pos: int) -> tuple[Any, int] | None:
    """(reply, position after it) of the reply at `pos`, or None if it is not all there."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        if len(buffer) - pos > _MAX_LINE:
            raise RespProtocolError(f"a reply line longer than {_MAX_LINE} bytes")
        return None
    kind = buffer[pos]
    if kind == _ARRAY:
        return _array(buffer, _number(buffer, pos, end), end + 2)
    if kind == _INTEGER:
        return _number(buffer, pos, end), end + 2
    if kind == _BULK:
        return _bulk(buffer, _number(buffer, pos, end), end + 2)
    if kind == _SIMPLE:
        return buffer[pos + 1 : end].decode(errors="replace"), end + 2
    if kind == _ERROR:
        message = buffer[pos + 1 : end].decode(errors="replace")
        error = RespNoScriptError if message.startswith("NOSCRIPT") else RespReplyError
        return error(message), end + 2
    raise RespProtocolError(f"unknown reply type {bytes([kind])!r}")


def _array(buffer: bytearray, count: int, at: int) -> tuple[list[Any] | None, int] | None:
    if count < 0:  # *-1: nil
        return None, at
    items: list[Any] = []
    for _ in range(count):
        parsed = _parse(buffer, at)
        if parsed is None:
            return None
        item, at = parsed
        items.append(item)
    return items, at


def _bulk(buffer: bytearray, size: int, start: int) -> tuple[bytes | None, int] | None:
    if size < 0:  # $-1: nil
        return None, start
    stop = start + size
    if len(buffer) < stop + 2:
        return None
    if buffer[stop : stop + 2] != b"\r\n":
        raise RespProtocolError("a bulk string longer than its length")
    return bytes(buffer[start:stop]), stop + 2


def _number(buffer: bytearray, pos: int, end: int) -> int:
    try:
        number = int(buffer[pos + 1 : end])
    except ValueError:
        raise RespProtocolError(f"not a number: {bytes(buffer[pos:end])!r}") from None
    if number < -1 and buffer[pos] != _INTEGER:
        raise RespProtocolError(f"a negative length: {number}")
    return number
