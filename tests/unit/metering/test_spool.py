"""The usage spool: durable appends with group commit, sealed segments in order, recovery."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from giru.metering import Spool, SpoolError, SpoolFullError, SpoolLockedError, UsageRecord
from giru.metering.frames import HEADER_SIZE, encode_frame
from giru.metering.records import encode_record
from tests.unit.metering.data import record

WAIT = 5.0


class FsyncCounter:
    """An `fsync` hook counting its calls; fails while `failing` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.failing:
            raise OSError(5, "Input/output error")
        os.fdatasync(fd)


@pytest.fixture
def fsync() -> FsyncCounter:
    return FsyncCounter()


@pytest.fixture
async def spool(tmp_path: Path, fsync: FsyncCounter) -> AsyncIterator[Spool]:
    opened = await Spool.open(tmp_path / "spool", group_commit_ms=0, fsync=fsync)
    try:
        yield opened
    finally:
        await opened.aclose()


async def drain(spool: Spool) -> list[UsageRecord]:
    """Seal, then read and ack every sealed segment."""
    await spool.seal()
    records: list[UsageRecord] = []
    async for batch in spool.pending():
        records += batch.records
        await spool.ack(batch.segment)
    return records


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


async def test_appended_records_come_back_in_order_once_sealed(spool: Spool) -> None:
    made = [record() for _ in range(10)]
    for item in made:
        await spool.submit(item)
    assert spool.sealed == []
    assert await spool.next_batch() is None
    assert await drain(spool) == made
    assert spool.size == 0
    assert segments(spool.directory) == []


async def test_a_reopened_spool_has_what_was_appended_sealed(tmp_path: Path) -> None:
    first = await Spool.open(tmp_path, group_commit_ms=0)
    made = [record() for _ in range(3)]
    for item in made:
        await first.submit(item)
    await first.aclose()
    again = await Spool.open(tmp_path)
    try:
        assert len(again.sealed) == 1
        assert again.size == sum(len(encode_frame(encode_record(r))) for r in made)
        assert await drain(again) == made
    finally:
        await again.aclose()


async def test_a_torn_last_frame_is_cut_on_open(tmp_path: Path) -> None:
    first = await Spool.open(tmp_path, group_commit_ms=0)
    made = [record() for _ in range(3)]
    for item in made:
        await first.submit(item)
    await first.aclose()
    [last] = segments(tmp_path)
    whole = last.stat().st_size
    torn = encode_frame(encode_record(record()))
    with last.open("ab") as handle:
        handle.write(torn[: HEADER_SIZE + 7])  # a crash in the middle of a write
    with capture_logs() as logs:
        again = await Spool.open(tmp_path, group_commit_ms=0)
    try:
        assert last.stat().st_size == whole
        [note] = [log for log in logs if log["event"] == "usage spool tail truncated"]
        assert "a truncated frame" in note["detail"]
        later = record()
        await again.submit(later)
        assert await drain(again) == [*made, later]
    finally:
        await again.aclose()


async def test_a_corrupt_last_frame_is_cut_on_open(tmp_path: Path) -> None:
    first = await Spool.open(tmp_path, group_commit_ms=0)
    made = [record() for _ in range(3)]
    for item in made:
        await first.submit(item)
    await first.aclose()
    [last] = segments(tmp_path)
    data = bytearray(last.read_bytes())
    data[-3] ^= 0xFF
    last.write_bytes(bytes(data))
    with capture_logs() as logs:
        again = await Spool.open(tmp_path)
    try:
        assert "a CRC mismatch" in logs[0]["detail"]
        assert await drain(again) == made[:2]
    finally:
        await again.aclose()


async def test_corruption_in_a_sealed_segment_is_reported_and_the_file_kept(
    spool: Spool,
) -> None:
    made = [record() for _ in range(4)]
    for item in made[:2]:
        await spool.submit(item)
    await spool.seal()
    for item in made[2:]:
        await spool.submit(item)
    first = segments(spool.directory)[0]
    data = bytearray(first.read_bytes())
    data[len(encode_frame(encode_record(made[0]))) + HEADER_SIZE + 10] ^= 0x20
    first.write_bytes(bytes(data))
    with capture_logs() as logs:
        batch = await spool.next_batch()
    assert batch is not None
    assert batch.records == made[:1]
    assert batch.problem is not None
    assert "a CRC mismatch" in batch.problem
    assert logs[0]["event"] == "usage spool segment corrupt"
    await spool.ack(batch.segment)
    assert first.with_name(first.name + ".corrupt").exists()
    assert await drain(spool) == made[2:]


async def test_concurrent_appends_share_one_fsync(tmp_path: Path, fsync: FsyncCounter) -> None:
    spool = await Spool.open(tmp_path, group_commit_ms=20, fsync=fsync)
    try:
        made = [record() for _ in range(200)]
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(spool.submit(item) for item in made))
        assert 1 <= fsync.calls <= 5
        assert sorted(await drain(spool), key=lambda r: r["event_id"]) == made
    finally:
        await spool.aclose()


async def test_without_a_window_each_lone_append_is_synced(
    spool: Spool, fsync: FsyncCounter
) -> None:
    for _ in range(5):
        await spool.submit(record())
    assert fsync.calls == 5


async def test_a_full_spool_refuses_appends_and_loses_nothing(tmp_path: Path) -> None:
    frame = len(encode_frame(encode_record(record())))
    spool = await Spool.open(tmp_path, max_bytes=10 * frame, group_commit_ms=0)
    accepted: list[UsageRecord] = []
    try:
        for _ in range(10):
            item = record()
            await spool.submit(item)
            accepted.append(item)
        with pytest.raises(SpoolFullError) as refused:
            await spool.submit(record())
        assert refused.value.code == "usage_spool_full"
        assert refused.value.data == {"bytes": 10 * frame, "maxBytes": 10 * frame}
    finally:
        await spool.aclose()
    again = await Spool.open(tmp_path, max_bytes=10 * frame, group_commit_ms=0)
    try:
        assert await drain(again) == accepted
        await again.submit(record())  # acked segments free the space
    finally:
        await again.aclose()


async def test_segments_rotate_at_their_size_and_drain_in_order(tmp_path: Path) -> None:
    frame = len(encode_frame(encode_record(record())))
    spool = await Spool.open(tmp_path, segment_bytes=3 * frame, group_commit_ms=0)
    try:
        made = [record() for _ in range(10)]
        for item in made:
            await spool.submit(item)
        assert len(spool.sealed) == 3  # and a fourth, active one
        assert spool.active_bytes == frame
        assert await drain(spool) == made
    finally:
        await spool.aclose()


async def test_one_directory_takes_one_spool(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "0")
    try:
        with pytest.raises(SpoolLockedError):
            await Spool.open(tmp_path / "0")
        other = await Spool.open_slot(tmp_path)
        assert other.directory == tmp_path / "1"
        await other.aclose()
    finally:
        await spool.aclose()
    again = await Spool.open_slot(tmp_path, slots=1)
    assert again.directory == tmp_path / "0"
    with pytest.raises(SpoolLockedError, match="all 1 usage spool slots"):
        await Spool.open_slot(tmp_path, slots=1)
    await again.aclose()


async def test_a_failed_write_fails_its_appends_and_the_next_ones_work(
    spool: Spool, fsync: FsyncCounter
) -> None:
    kept = record()
    await spool.submit(kept)
    fsync.failing = True
    with capture_logs() as logs, pytest.raises(SpoolError, match="could not write"):
        await spool.submit(record())
    assert logs[0]["event"] == "usage spool write failed"
    fsync.failing = False
    later = record()
    await spool.submit(later)
    assert await drain(spool) == [kept, later]


async def test_a_closed_spool_refuses_appends(spool: Spool) -> None:
    await spool.aclose()
    with pytest.raises(SpoolError, match="closed"):
        await spool.submit(record())


class BlockingFsync:
    """An `fsync` hook that says when a write reached it and waits to be released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, fd: int) -> None:
        self.entered.set()
        self.release.wait(WAIT)
        os.fdatasync(fd)


async def test_a_record_whose_caller_stops_waiting_is_written_all_the_same(
    tmp_path: Path,
) -> None:
    hook = BlockingFsync()
    spool = await Spool.open(tmp_path, group_commit_ms=0, fsync=hook)
    try:
        item = record()
        appending = spool.submit(item)
        assert await asyncio.to_thread(hook.entered.wait, WAIT)
        appending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await appending
        hook.release.set()
        assert await drain(spool) == [item]
    finally:
        hook.release.set()
        await spool.aclose()


async def test_acking_an_unknown_segment_is_an_error(spool: Spool) -> None:
    with pytest.raises(ValueError, match="not sealed"):
        await spool.ack(42)


async def test_a_record_too_large_for_a_frame_is_refused(spool: Spool) -> None:
    with pytest.raises(SpoolError, match="cannot be spooled"):
        await spool.submit(record(request_id="x" * (1 << 20)))
    assert spool.size == 0


async def test_a_sealed_segment_deleted_behind_the_spools_back_is_reported(spool: Spool) -> None:
    await spool.submit(record())
    await spool.seal()
    segments(spool.directory)[0].unlink()
    with capture_logs() as logs:
        batch = await spool.next_batch()
    assert batch is not None
    assert batch.records == []
    assert batch.problem == "the file is gone"
    assert logs[0]["event"] == "usage spool segment corrupt"
    await spool.ack(batch.segment)
    assert spool.sealed == []


async def test_capacity_is_checked_with_headroom(tmp_path: Path) -> None:
    frame = len(encode_frame(encode_record(record())))
    spool = await Spool.open(tmp_path, max_bytes=3 * frame, group_commit_ms=0)
    try:
        spool.check_capacity(3 * frame)
        await spool.submit(record())
        spool.check_capacity(2 * frame)
        with pytest.raises(SpoolFullError):
            spool.check_capacity(2 * frame + 1)
    finally:
        await spool.aclose()
    with pytest.raises(SpoolError, match="closed"):
        spool.check_capacity()
