"""The stdio connector: one child process speaking newline-delimited JSON-RPC on stdin/stdout.

A broken child (exit, closed stdout, garbage, over-long line) fails the calls in flight and is
retired; the next request starts a fresh process (backoff, crash-loop cap). Calls in flight are
never re-sent to the new process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from giru.errors import UpstreamError
from giru.mcp.jsonrpc import dumps
from giru.upstream._calls import Call, Exchange, unavailable
from giru.upstream._handshake import HandshakeState, Negotiated, negotiate
from giru.upstream._process import CrashLoopGuard, StderrTail, spawn, terminate
from giru.upstream._tasks import TaskSet
from giru.upstream._wire import parse_upstream, protocol_error
from giru.upstream.base import RESTARTED, ClientIdentity, MessageSink, ServerSpec

__all__ = ["StdioSession"]

_log = structlog.get_logger(__name__)


@dataclass(eq=False, slots=True)
class _Child:
    proc: asyncio.subprocess.Process
    retired: bool = False
    ready: bool = False


class StdioSession(HandshakeState):
    """An `UpstreamSession` over a child process (legacy era handshake)."""

    def __init__(
        self, spec: ServerSpec, identity: ClientIdentity, *, on_unsolicited: MessageSink
    ) -> None:
        self._spec = spec
        self._identity = identity
        self._on_unsolicited = on_unsolicited
        self._started = False
        """A child has been ready before: the next one is a restart (lists may differ)."""
        self._tasks = TaskSet(spec.name)
        self._exchange = Exchange(
            spec.name,
            spec.timeouts,
            on_unsolicited=on_unsolicited,
            send=self._send,
            tasks=self._tasks,
        )
        self._child: _Child | None = None
        self._start_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._guard = CrashLoopGuard()
        self._negotiated: Negotiated | None = None
        self._closed = False
        self._stops: set[asyncio.Task[None]] = set()
        self.stderr = StderrTail()
        """The child's recent stderr (diagnostics only; never treated as an error)."""

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child is not None else None

    async def start(self) -> None:
        """Spawn the child and run the handshake (also used for lazy restarts)."""
        async with self._start_lock:
            await self._start_locked()

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- an idle timeout that progress resets
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        await self._ensure_running()
        return await self._exchange.request(
            method, params, on_message=on_message, timeout=timeout, transmit=self._transmit
        )

    async def notify(self, method: str, params: dict[str, Any] | None) -> None:
        await self._ensure_running()
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        child = self._child
        if child is not None:
            self._retire(child, unavailable(self.server, "upstream session closed"), graceful=True)
        if self._stops:  # let every child be reaped before cancelling the rest
            await asyncio.wait(list(self._stops), timeout=15.0)
        await self._tasks.aclose()

    # -- lifecycle ------------------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        if self._closed:
            raise unavailable(self.server, "upstream session closed")
        if self._child is not None and self._child.ready:
            return
        async with self._start_lock:
            if self._child is not None and self._child.ready:
                return
            delay = self._guard.delay(self.server)
            if delay > self._spec.timeouts.connect:
                raise unavailable(self.server, "upstream restarting", retry_after=round(delay, 1))
            await asyncio.sleep(delay)
            await self._start_locked()

    async def _start_locked(self) -> None:
        if self._closed:
            raise unavailable(self.server, "upstream session closed")
        child = _Child(await spawn(self._spec))
        self._child = child
        self._tasks.spawn(self._read_stdout(child), "stdout")
        self._tasks.spawn(self._read_stderr(child), "stderr")
        _log.info("upstream process started", server=self.server, pid=child.proc.pid)
        try:
            async with asyncio.timeout(self._spec.timeouts.connect):
                self._negotiated = await negotiate(
                    self.server,
                    self._identity,
                    request=self._handshake_request,
                    notify=self.notify_raw,
                    use_modern=None,
                )
        except (UpstreamError, TimeoutError) as exc:
            self._retire(child, unavailable(self.server, "upstream handshake failed"))
            if isinstance(exc, UpstreamError):
                raise
            raise unavailable(self.server, "upstream handshake timed out") from exc
        child.ready = True
        if self._started:
            await self._on_unsolicited(dict(RESTARTED))
        self._started = True

    async def _handshake_request(
        self, method: str, params: dict[str, Any] | None
    ) -> dict[str, Any]:
        return await self._exchange.request(
            method,
            params,
            on_message=None,
            timeout=self._spec.timeouts.connect,
            transmit=self._transmit,
        )

    async def notify_raw(self, method: str, params: dict[str, Any] | None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    def _retire(self, child: _Child, exc: UpstreamError, *, graceful: bool = False) -> None:
        """Fail what is in flight and stop `child` (once); the next request starts a new one."""
        if child.retired:
            return
        child.retired = True
        if self._child is child:
            self._child = None
        if not graceful:
            self._guard.record_exit()
        self._exchange.fail_all(exc)
        task = self._tasks.spawn(self._stop(child, graceful), "terminate")
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _stop(self, child: _Child, graceful: bool) -> None:
        code = await terminate(child.proc, graceful=graceful)
        _log.info("upstream process stopped", server=self.server, pid=child.proc.pid, code=code)

    # -- I/O -----------------------------------------------------------------------------------

    async def _transmit(self, call: Call, message: dict[str, Any]) -> None:
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        child = self._child
        if child is None or child.proc.stdin is None or child.proc.stdin.is_closing():
            raise unavailable(self.server, "upstream process is not running")
        line = dumps(message) + b"\n"
        try:
            async with self._write_lock, asyncio.timeout(self._spec.timeouts.connect):
                child.proc.stdin.write(line)
                await child.proc.stdin.drain()
        except (ConnectionError, TimeoutError) as exc:
            self._retire(child, unavailable(self.server, "upstream stopped reading stdin"))
            raise unavailable(self.server, "could not write to upstream process") from exc

    async def _read_stdout(self, child: _Child) -> None:
        stdout = child.proc.stdout
        if stdout is None:
            return
        error = await self._pump(child, stdout)
        self._retire(child, error)
        while await _discard(stdout):  # drain to EOF so the pipe transport closes
            pass

    async def _pump(self, child: _Child, stdout: asyncio.StreamReader) -> UpstreamError:
        while not child.retired:
            try:
                line = await stdout.readline()
            except ValueError:  # asyncio's limit: a line over MAX_MESSAGE_BYTES
                return protocol_error(self.server, "upstream line exceeds the size limit")
            if not line:
                return unavailable(self.server, "upstream process closed stdout or exited")
            if not line.strip():
                continue
            if not line.endswith(b"\n"):
                return unavailable(self.server, "upstream process exited mid-message")
            try:
                message = parse_upstream(self.server, line)
            except UpstreamError as exc:
                _log.warning("upstream protocol violation", server=self.server, **exc.data)
                return exc
            await self._exchange.deliver(message)
        return unavailable(self.server, "upstream process retired")

    async def _read_stderr(self, child: _Child) -> None:
        stderr = child.proc.stderr
        if stderr is None:
            return
        while True:
            try:
                line = await stderr.readline()
            except ValueError:  # an over-long stderr line: keep its head, drop the rest
                line = await stderr.read(4096)
            if not line:
                return
            self.stderr.add(line)


async def _discard(reader: asyncio.StreamReader) -> bool:
    return bool(await reader.read(64 * 1024))
