"""Spool frames (sans-IO): a 4-byte length, a 4-byte CRC32 of the payload, then the payload.

Both integers are little-endian and unsigned. A frame is valid when its length is 1 to
`MAX_PAYLOAD` and the CRC matches; a scan stops at the first frame that is not, so what comes
before it can be trusted and what follows cannot (a torn write, or a corrupted file).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Final

__all__ = ["HEADER_SIZE", "MAX_PAYLOAD", "Scan", "encode_frame", "scan_frames"]

_HEADER: Final = struct.Struct("<II")
HEADER_SIZE: Final = _HEADER.size
MAX_PAYLOAD: Final = 1 << 20
"""A usage record is a few hundred bytes; anything longer than this is corruption."""


def encode_frame(payload: bytes) -> bytes:
    """The frame holding `payload` (1 to `MAX_PAYLOAD` bytes)."""
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"a frame holds 1 to {MAX_PAYLOAD} bytes, not {len(payload)}")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Scan:
    """What `scan_frames` found: the payloads of the valid frames, the offset just past each of
    them, and why the scan stopped before the end of the data (`None`: it did not)."""

    payloads: list[bytes] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    problem: str | None = None

    @property
    def valid(self) -> int:
        """Bytes of valid frames from the start of the data."""
        return self.ends[-1] if self.ends else 0


def scan_frames(data: bytes | memoryview) -> Scan:
    """Every valid frame from the start of `data`, up to the first one that is not."""
    view = memoryview(data)
    scan = Scan()
    offset = 0
    while offset < len(view):
        problem = _check(view, offset)
        if problem is not None:
            return Scan(scan.payloads, scan.ends, f"{problem} at byte {offset}")
        length, _ = _HEADER.unpack_from(view, offset)
        end = offset + HEADER_SIZE + length
        scan.payloads.append(bytes(view[offset + HEADER_SIZE : end]))
        scan.ends.append(end)
        offset = end
    return scan


def _check(view: memoryview, offset: int) -> str | None:
    """Why the frame at `offset` is invalid, or None."""
    if len(view) - offset < HEADER_SIZE:
        return "a truncated header"
    length, crc = _HEADER.unpack_from(view, offset)
    if not 0 < length <= MAX_PAYLOAD:
        return f"an invalid length {length}"
    start = offset + HEADER_SIZE
    if len(view) - start < length:
        return "a truncated frame"
    if zlib.crc32(view[start : start + length]) != crc:
        return "a CRC mismatch"
    return None
