"""Child processes of stdio upstreams: own process group, bounded stderr, orderly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from typing import Final

import structlog

from giru.errors import UpstreamUnavailableError
from giru.upstream._wire import MAX_MESSAGE_BYTES
from giru.upstream.base import ServerSpec

__all__ = ["CrashLoopGuard", "StderrTail", "spawn", "terminate"]

_log = structlog.get_logger(__name__)

_INHERITED_ENV: Final = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LOGNAME",
    "SHELL",
    "TERM",
    "TMPDIR",
    "USER",
)
_GRACE: Final = 2.0
_REAP: Final = 5.0


class StderrTail:
    """The last `max_bytes` of a child's stderr, line by line, each line capped."""

    def __init__(self, max_bytes: int = 64 * 1024, max_line: int = 4096) -> None:
        self._max_bytes = max_bytes
        self._max_line = max_line
        self._lines: deque[str] = deque()
        self._size = 0

    def add(self, raw: bytes) -> None:
        line = raw[: self._max_line].decode("utf-8", "replace").rstrip("\r\n")
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > self._max_bytes and self._lines:
            self._size -= len(self._lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self._lines)


class CrashLoopGuard:
    """Exponential backoff between restarts; too many exits in a window keeps the server down."""

    def __init__(
        self,
        *,
        max_exits: int = 5,
        window: float = 60.0,
        cooldown: float = 60.0,
        base_delay: float = 0.25,
        max_delay: float = 10.0,
    ) -> None:
        self._max_exits, self._window, self._cooldown = max_exits, window, cooldown
        self._base, self._cap = base_delay, max_delay
        self._exits: deque[float] = deque()

    def record_exit(self) -> None:
        self._exits.append(time.monotonic())

    def delay(self, server: str) -> float:
        """Seconds to wait before the next start; raises while the crash-loop cooldown lasts."""
        now = time.monotonic()
        while self._exits and now - self._exits[0] > max(self._window, self._cooldown):
            self._exits.popleft()
        recent = [t for t in self._exits if now - t <= self._window]
        if len(recent) >= self._max_exits and now - recent[-1] < self._cooldown:
            raise UpstreamUnavailableError(
                server,
                "upstream process is crash-looping; restarts paused",
                data={
                    "reason": "crash_loop",
                    "exits": len(recent),
                    "retry_after": round(self._cooldown - (now - recent[-1]), 1),
                },
            )
        if not recent:
            return 0.0
        wanted: float = min(self._base * float(2 ** (len(recent) - 1)), self._cap)
        return max(0.0, wanted - (now - recent[-1]))


def child_env(spec: ServerSpec) -> dict[str, str]:
    """A minimal inherited environment (no secrets of the gateway) with the spec's env over it."""
    env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
    env.setdefault("PATH", os.defpath)
    return env | spec.env


async def spawn(spec: ServerSpec) -> asyncio.subprocess.Process:
    if not spec.command:
        raise UpstreamUnavailableError(spec.name, "stdio upstream has no command")
    try:
        return await asyncio.create_subprocess_exec(
            spec.command,
            *spec.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(spec),
            cwd=spec.cwd,
            start_new_session=True,  # own process group: shutdown signals reach grandchildren
            limit=MAX_MESSAGE_BYTES + 1,
        )
    except OSError as exc:
        raise UpstreamUnavailableError(
            spec.name,
            "could not start upstream process",
            data={"reason": "spawn_failed", "errno": exc.errno},
        ) from exc


async def terminate(proc: asyncio.subprocess.Process, *, graceful: bool = True) -> int:
    """Spec order: close stdin, wait, SIGTERM, wait, SIGKILL; always reap. Returns the exit code."""
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    if graceful and await _exited(proc, _GRACE):
        _signal_group(proc, signal.SIGKILL)  # stragglers left in the group
        return proc.returncode or 0
    _signal_group(proc, signal.SIGTERM)
    if not await _exited(proc, _GRACE):
        _signal_group(proc, signal.SIGKILL)
    if not await _exited(proc, _REAP):
        _log.error("upstream process did not die after SIGKILL", pid=proc.pid)
    _signal_group(proc, signal.SIGKILL)
    return proc.returncode if proc.returncode is not None else -1


async def _exited(proc: asyncio.subprocess.Process, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            await proc.wait()
    except TimeoutError:
        return False
    return True


def _signal_group(proc: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
