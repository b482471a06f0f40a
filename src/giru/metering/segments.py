"""Segment files of a spool (usage, audit): blocking file operations, run in worker threads.

A segment is `<seq, 20 digits>.seg` holding frames back to back. Only the newest segment can end
in a torn frame (every other one was synced before the next was created), so `recover` cuts the
newest one back to its last whole frame; a bad frame anywhere else is corruption, reported by
`read_segment` with the records before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from giru.metering.frames import scan_frames

__all__ = [
    "CORRUPT_SUFFIX",
    "SEGMENT_SUFFIX",
    "Segment",
    "create_segment",
    "parse",
    "read_segment",
    "recover",
    "write_all",
]

SEGMENT_SUFFIX: Final = ".seg"
CORRUPT_SUFFIX: Final = ".corrupt"
R = TypeVar("R")
Decode = Callable[[bytes], R]
"""A record from its frame's payload; `ValueError` when the payload is not one."""


@dataclass(eq=False, slots=True)
class Segment:
    """One segment file: `size` bytes of whole frames; `fd` open for appends while active."""

    seq: int
    path: Path
    size: int
    fd: int | None = None

    def descriptor(self) -> int:
        if self.fd is None:
            raise RuntimeError(f"segment {self.path} is not open")
        return self.fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:020d}{SEGMENT_SUFFIX}"


def create_segment(directory: Path, seq: int) -> Segment:
    """A new empty segment open for appends, its name durable in the directory."""
    path = segment_path(directory, seq)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        _sync_directory(directory)
    except BaseException:
        os.close(fd)
        raise
    return Segment(seq, path, 0, fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def parse(data: bytes, decode: Decode[R]) -> tuple[list[R], int, str | None]:
    """The records of whole, valid frames from the start of `data`, the bytes they span, and
    why parsing stopped before the end (None: it did not)."""
    scan = scan_frames(data)
    records: list[R] = []
    valid = 0
    for payload, end in zip(scan.payloads, scan.ends, strict=True):
        try:
            records.append(decode(payload))
        except ValueError as exc:
            return records, valid, f"an undecodable record at byte {valid} ({exc})"
        valid = end
    return records, valid, scan.problem


def read_segment(path: Path, decode: Decode[R]) -> tuple[list[R], str | None]:
    """The records of a sealed segment and why reading stopped early (None: it did not)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], "the file is gone"
    records, _, problem = parse(data, decode)
    return records, problem


def recover(directory: Path, decode: Decode[object]) -> tuple[list[Segment], list[str]]:
    """The segments in `directory`, oldest first, after cutting a torn tail off the newest (a
    frame `decode` refuses counts as torn) and removing empty ones; and a note for each cut."""
    found = sorted(
        (int(path.stem), path)
        for path in directory.glob(f"*{SEGMENT_SUFFIX}")
        if path.stem.isdigit()
    )
    segments: list[Segment] = []
    notes: list[str] = []
    for index, (seq, path) in enumerate(found):
        size = path.stat().st_size
        if index == len(found) - 1 and size:
            size, note = _cut_torn_tail(path, size, decode)
            if note is not None:
                notes.append(note)
        if size == 0:
            path.unlink()
            continue
        segments.append(Segment(seq, path, size))
    return segments, notes


def _cut_torn_tail(path: Path, size: int, decode: Decode[object]) -> tuple[int, str | None]:
    _, valid, problem = parse(path.read_bytes(), decode)
    if problem is None:
        return size, None
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, valid)
        os.fsync(fd)
    finally:
        os.close(fd)
    return valid, f"{path.name}: {problem}; cut {size - valid} bytes after byte {valid}"


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
