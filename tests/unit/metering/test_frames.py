"""Spool frames: length + CRC32 + payload; a scan keeps exactly the valid prefix."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.metering.frames import HEADER_SIZE, MAX_PAYLOAD, encode_frame, scan_frames

payloads = st.lists(st.binary(min_size=1, max_size=64), max_size=20)


@given(payloads)
def test_frames_round_trip(items: list[bytes]) -> None:
    data = b"".join(encode_frame(item) for item in items)
    scan = scan_frames(data)
    assert scan.payloads == items
    assert scan.problem is None
    assert scan.valid == len(data)


@given(payloads, st.data())
def test_a_cut_anywhere_keeps_the_whole_frames_before_it(
    items: list[bytes], data: st.DataObject
) -> None:
    frames = [encode_frame(item) for item in items]
    joined = b"".join(frames)
    cut = data.draw(st.integers(0, len(joined)))
    scan = scan_frames(joined[:cut])
    ends = [sum(len(f) for f in frames[: i + 1]) for i in range(len(frames))]
    whole = [end for end in ends if end <= cut]
    assert scan.payloads == items[: len(whole)]
    assert scan.valid == (whole[-1] if whole else 0)
    assert (scan.problem is None) == (scan.valid == cut)


def test_a_flipped_bit_stops_the_scan_at_its_frame() -> None:
    data = bytearray(encode_frame(b"first") + encode_frame(b"second") + encode_frame(b"third"))
    second = len(encode_frame(b"first"))
    data[second + HEADER_SIZE + 2] ^= 0x01
    scan = scan_frames(bytes(data))
    assert scan.payloads == [b"first"]
    assert scan.problem == f"a CRC mismatch at byte {second}"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00" * 16, "an invalid length 0 at byte 0"),  # zeros: a preallocated, unwritten tail
        (struct.pack("<II", MAX_PAYLOAD + 1, 0), f"an invalid length {MAX_PAYLOAD + 1} at byte 0"),
        (b"\x05\x00\x00", "a truncated header at byte 0"),
        (struct.pack("<II", 5, zlib.crc32(b"hello")) + b"hel", "a truncated frame at byte 0"),
    ],
)
def test_invalid_frames_are_named(data: bytes, problem: str) -> None:
    scan = scan_frames(data)
    assert scan.payloads == []
    assert scan.valid == 0
    assert scan.problem == problem


@pytest.mark.parametrize("size", [0, MAX_PAYLOAD + 1])
def test_frames_hold_one_byte_to_the_maximum(size: int) -> None:
    with pytest.raises(ValueError, match="a frame holds"):
        encode_frame(b"x" * size)
