"""A spool: a directory of append-only segment files, durable before callers go on.

It holds usage records by default; another `Codec` makes it hold other records (the audit log).

`submit` queues a record and returns a future done once its frame (see `giru.metering.frames`)
is on disk: records submitted within `group_commit_ms` of each other share one write and one
`fdatasync`, done in the spool's `Committer` thread, one batch at a time. The newest segment is
the active one; `seal` closes it, and sealed segments are read in order (`next_batch`,
`pending`) and deleted by `ack` once their records are stored. `open` truncates a torn last
frame and seals everything found. A `LOCK` file held with `flock` keeps two processes (or two
spools) off one directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Generic, cast

import structlog
from typing_extensions import TypeVar

from giru.errors import GiruError
from giru.metering.committer import Committer
from giru.metering.frames import encode_frame
from giru.metering.records import UsageRecord, decode_record, encode_record
from giru.metering.segments import (
    CORRUPT_SUFFIX,
    Segment,
    create_segment,
    read_segment,
    recover,
    write_all,
)

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "USAGE_CODEC",
    "Batch",
    "Codec",
    "Spool",
    "SpoolError",
    "SpoolFullError",
    "SpoolLockedError",
]

DEFAULT_SEGMENT_BYTES: Final = 4 * 1024 * 1024
_LOCK = "LOCK"
_log = structlog.get_logger(__name__)
R = TypeVar("R", default=UsageRecord)


class SpoolError(GiruError):
    """The spool cannot take the record (closed, or the disk failed): answer 503."""

    code = "usage_spool_unavailable"


class SpoolFullError(SpoolError):
    """The spool holds `max_bytes` already (the store is behind): back-pressure, answer 503."""

    code = "usage_spool_full"


class SpoolLockedError(SpoolError):
    """Another spool (this process or another) holds the directory."""

    code = "usage_spool_locked"


@dataclass(frozen=True, slots=True)
class Codec(Generic[R]):
    """How a spool stores its records: `encode` to a frame's payload, `decode` back (raising
    `ValueError` for a payload that is not a record); `name` appears in messages and logs;
    `unavailable`: the error a failed write is answered with (the future of `Spool.submit`)."""

    name: str
    encode: Callable[[R], bytes]
    decode: Callable[[bytes], R]
    unavailable: type[GiruError] = SpoolError


USAGE_CODEC: Final[Codec[UsageRecord]] = Codec("usage", encode_record, decode_record)


@dataclass(frozen=True, slots=True)
class Batch(Generic[R]):
    """The records of one sealed segment, in append order; `problem` says why reading stopped
    early (a corrupt frame: the file is kept as `<segment>.corrupt` when acked)."""

    segment: int
    records: list[R]
    problem: str | None = None


class Spool(Generic[R]):
    """Open with `await Spool.open(directory, ...)`; close with `aclose()`."""

    def __init__(
        self,
        directory: Path,
        lock: int,
        sealed: list[Segment],
        *,
        max_bytes: int,
        group_commit_ms: float,
        segment_bytes: int,
        fsync: Callable[[int], None],
        codec: Codec[R],
    ) -> None:
        self.directory = directory
        self.codec = codec
        self.on_commit: Callable[[], None] | None = None
        """Called on the event loop after each batch of appends is durable."""
        self._lock_fd = lock
        self._sealed = deque(sealed)
        self._next_seq = max((s.seq for s in sealed), default=0) + 1
        self._active: Segment | None = None
        self._corrupt: set[int] = set()
        self._max_bytes = max_bytes
        self._window = group_commit_ms / 1000
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._commits = Committer()
        self._stored = sum(s.size for s in sealed)
        self._queue: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._queued = 0
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()
        self._closing = False
        self._committer = asyncio.get_running_loop().create_task(
            self._commit_loop(), name=f"giru-{codec.name}-spool:{directory.name}"
        )

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        group_commit_ms: float = 2.0,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: Callable[[int], None] = os.fdatasync,
        codec: Codec[R] | None = None,
    ) -> Spool[R]:
        """Lock `directory` (created if missing), recover it and start accepting appends;
        `codec`: of usage records unless given.

        Raises:
            SpoolLockedError: another spool holds the directory.
        """
        chosen = codec if codec is not None else cast("Codec[R]", USAGE_CODEC)
        lock = await asyncio.to_thread(_lock, directory, chosen.name)
        try:
            sealed, notes = await asyncio.to_thread(recover, directory, chosen.decode)
        except BaseException:
            os.close(lock)
            raise
        for note in notes:
            _log.warning(
                f"{chosen.name} spool tail truncated", directory=str(directory), detail=note
            )
        return cls(
            directory,
            lock,
            sealed,
            max_bytes=max_bytes,
            group_commit_ms=group_commit_ms,
            segment_bytes=segment_bytes,
            fsync=fsync,
            codec=chosen,
        )

    @classmethod
    async def open_slot(
        cls, base: Path, *, slots: int = 64, codec: Codec[R] | None = None, **options: Any
    ) -> Spool[R]:
        """Open the first of `base/0`, `base/1`, ... that no other spool holds.

        Each gateway process gets a directory of its own, and a process started after one
        died takes over (and drains) the dead one's directory. `options` as for `open`.

        Raises:
            SpoolLockedError: all `slots` directories are held.
        """
        for slot in range(slots):
            try:
                return await cls.open(base / str(slot), codec=codec, **options)
            except SpoolLockedError:
                continue
        name = (codec or USAGE_CODEC).name
        raise SpoolLockedError(f"{base}: all {slots} {name} spool slots are held")

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def size(self) -> int:
        """Bytes held: segments on disk and appends not written yet (what `max_bytes` caps)."""
        return self._stored + self._queued

    @property
    def active_bytes(self) -> int:
        """Bytes written to the active (unsealed) segment."""
        return self._active.size if self._active is not None else 0

    @property
    def sealed(self) -> list[int]:
        """Sequence numbers of the sealed segments not acked yet, oldest first."""
        return [segment.seq for segment in self._sealed]

    def check_capacity(self, headroom: int = 0) -> None:
        """Raise unless an append of up to `headroom` bytes would be taken now (a pre-check
        before side effects: concurrent appends may still fill the spool first).

        Raises:
            SpoolFullError: the spool is within `headroom` bytes of `max_bytes`.
            SpoolError: the spool is closed.
        """
        if self._closing:
            raise SpoolError(f"the {self.codec.name} spool is closed")
        if self.size + headroom > self._max_bytes:
            raise self._full()

    def _full(self) -> SpoolFullError:
        return SpoolFullError(
            f"the {self.codec.name} spool holds {self.size} bytes (cap {self._max_bytes})",
            data={"bytes": self.size, "maxBytes": self._max_bytes},
        )

    def submit(self, record: R) -> asyncio.Future[None]:
        """Queue `record` for the next group commit; the future is done once it is on disk
        (its exception: the codec's `unavailable` error, the write failed). A caller that
        stops waiting cancels the future: the record is written all the same.

        Raises:
            SpoolFullError: the spool holds `max_bytes` already; nothing was queued.
            SpoolError: the spool is closed or the record cannot be encoded.
        """
        try:
            frame = encode_frame(self.codec.encode(record))
        except (TypeError, ValueError) as exc:  # not JSON, or larger than a frame holds
            name = self.codec.name
            raise SpoolError(f"the {name} record cannot be spooled: {exc}") from exc
        self.check_capacity(len(frame))
        done = asyncio.get_running_loop().create_future()
        self._queue.append(frame)
        self._waiters.append(done)
        self._queued += len(frame)
        self._wake.set()
        return done

    async def seal(self) -> int | None:
        """Seal the active segment if it holds data; the newest sealed segment (None: none)."""
        async with self._io:
            if self._active is not None:
                await self._seal(self._active)
        return self._sealed[-1].seq if self._sealed else None

    async def next_batch(self) -> Batch[R] | None:
        """The records of the oldest sealed segment (None: nothing is sealed)."""
        if not self._sealed:
            return None
        return await self._read(self._sealed[0])

    async def pending(self) -> AsyncIterator[Batch[R]]:
        """The batches of every segment sealed now, oldest first."""
        for segment in list(self._sealed):
            if segment in self._sealed:  # not acked meanwhile
                yield await self._read(segment)

    async def ack(self, seq: int) -> None:
        """The records of sealed segment `seq` are stored: delete it (keep a corrupt one)."""
        segment = next((s for s in self._sealed if s.seq == seq), None)
        if segment is None:
            raise ValueError(f"segment {seq} is not sealed or was acked already")
        keep = seq in self._corrupt
        if keep:
            target = segment.path.with_name(segment.path.name + CORRUPT_SUFFIX)
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(segment.path.replace, target)
        else:
            await asyncio.to_thread(segment.path.unlink, missing_ok=True)
        self._sealed.remove(segment)
        self._corrupt.discard(seq)
        self._stored -= segment.size

    async def aclose(self) -> None:
        """Write what was appended, stop, and release the directory (pending segments stay)."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        await asyncio.wait([self._committer])
        async with self._io:
            if self._active is not None:
                await asyncio.to_thread(self._active.close)
        os.close(self._lock_fd)

    async def _read(self, segment: Segment) -> Batch[R]:
        records, problem = await asyncio.to_thread(read_segment, segment.path, self.codec.decode)
        if problem is not None:
            self._corrupt.add(segment.seq)
            _log.error(
                f"{self.codec.name} spool segment corrupt",
                segment=str(segment.path),
                problem=problem,
                records=len(records),
            )
        return Batch(segment.seq, records, problem)

    async def _commit_loop(self) -> None:
        """Write queued frames in batches until closed: the first append after a quiet spell
        waits one group-commit window for company; later ones gathered during a write go next."""
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self._window > 0 and not self._closing:
                    await asyncio.sleep(self._window)
                continue
            await self._commit()

    async def _commit(self) -> None:
        frames, waiters = self._queue, self._waiters
        self._queue, self._waiters = [], []
        data = b"".join(frames)
        failure: str | None = None
        try:
            async with self._io:
                await self._write(data)
        except OSError as exc:
            name = self.codec.name
            _log.error(f"{name} spool write failed", directory=str(self.directory), error=repr(exc))
            failure = f"the {name} spool could not write: {exc.strerror or exc}"
        except Exception as exc:  # noqa: BLE001 -- the committer's boundary: fail, keep going
            name = self.codec.name
            _log.exception(f"{name} spool commit failed", directory=str(self.directory))
            failure = f"the {name} spool failed: {type(exc).__name__}"
        self._queued -= len(data)
        for waiter in waiters:
            if waiter.done():  # its caller was cancelled: the record is written all the same
                continue
            if failure is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(self.codec.unavailable(failure))
        if failure is None and self.on_commit is not None:
            self.on_commit()

    async def _write(self, data: bytes) -> None:
        """(`_io` held) Append `data` to the active segment and sync it, rotating first when
        the segment would grow past `segment_bytes`; a failed write seals the segment."""
        active = self._active
        if active is not None and active.size + len(data) > self._segment_bytes:
            await self._seal(active)
            active = None
        if active is None:
            active = await asyncio.to_thread(create_segment, self.directory, self._next_seq)
            self._active = active
            self._next_seq += 1
        try:
            await self._commits.run(partial(_append, active, data, self._fsync))
        except OSError:
            await self._seal(active)
            raise
        active.size += len(data)
        self._stored += len(data)

    async def _seal(self, active: Segment) -> None:
        self._active = None
        await asyncio.to_thread(active.close)
        self._sealed.append(active)


def _append(segment: Segment, data: bytes, fsync: Callable[[int], None]) -> None:
    """(worker thread) Write and sync; on failure cut the file back to its whole frames."""
    fd = segment.descriptor()
    try:
        write_all(fd, data)
        fsync(fd)
    except OSError:
        # Best effort: when the cut fails too, reading stops at the last whole frame and the
        # segment is kept as corrupt once acked.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, segment.size)
        raise


def _lock(directory: Path, name: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise SpoolLockedError(f"{directory}: another {name} spool holds it") from exc
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
