"""Talking to OPA: a small keep-alive HTTP/1.1 client for decisions, and the managed child.

Decisions are on every call's path, so the client is deliberately minimal: a pool of warm
connections (unix socket for the managed child, TCP for an external OPA), one request
written in a single `write`, the response parsed by httptools, and one deadline for the whole
exchange. Anything unexpected closes that connection and raises `PolicyUnavailableError`: the
caller fails closed. Everything else about OPA (health, the child process) uses the same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import urlsplit

import httptools
import orjson
import structlog

from giru.errors import PolicyUnavailableError

__all__ = ["OpaChild", "OpaClient", "PolicyUnavailableError"]

_log = structlog.get_logger(__name__)
_MAX_IDLE: Final = 256
_MAX_RESPONSE: Final = 16 * 1024 * 1024
_PR_SET_PDEATHSIG: Final = 1
_RESTART_BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)


class _Connection(asyncio.Protocol):
    """One keep-alive connection to OPA: one request at a time, the response parsed as it
    arrives (httptools), completed through a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(OSError(f"bad response from OPA: {exc}"))
            self.close()

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > _MAX_RESPONSE:
            raise ValueError("OPA response too large")

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.body = bytes(self.body), bytearray()
        if waiter is not None and not waiter.done():
            keep = self.parser.should_keep_alive()
            waiter.set_result((self.parser.get_status_code(), body, keep))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(OSError("connection closed by OPA"))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class OpaClient:
    """HTTP client for OPA's REST API at `url` (`http://host:port` or `unix:///path.sock`)."""

    def __init__(self, url: str, *, timeout_s: float = 0.25) -> None:
        parts = urlsplit(url)
        self.url = url
        self.timeout_s = timeout_s
        self._unix = parts.path if parts.scheme == "unix" else None
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = "" if self._unix else parts.path.rstrip("/")
        self._idle: deque[_Connection] = deque()
        host = "opa" if self._unix else (parts.netloc or self._host)
        self._headers = f"Host: {host}\r\nContent-Type: application/json\r\n".encode()

    async def query(self, path: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """POST `{"input": payload}` to `/v1/data/<path>` and return its `result`; undefined,
        errors and timeouts raise `PolicyUnavailableError`."""
        body = orjson.dumps({"input": payload})
        status, answer = await self.request("POST", f"/v1/data/{path}", body, timeout_s=timeout_s)
        if status != 200:
            raise PolicyUnavailableError(f"OPA answered HTTP {status}: {_excerpt(answer)}")
        document = orjson.loads(answer)
        if not isinstance(document, dict) or "result" not in document:
            raise PolicyUnavailableError(f"the decision data.{path.replace('/', '.')} is undefined")
        return document["result"]

    async def request(
        self, method: str, path: str, body: bytes = b"", *, timeout_s: float | None = None
    ) -> tuple[int, bytes]:
        """One exchange within the deadline; raises `PolicyUnavailableError` on any failure."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if connection is not None:
                connection.close()  # fails its waiter; the connection is not reused

        timer = loop.call_later(timeout, expire)
        try:
            connection = self._warm()
            if connection is None:  # rare: the pool keeps connections warm; bounded as well
                connection = await asyncio.wait_for(self._connect(), timeout)
            if expired:
                raise TimeoutError
            head = f"{method} {self._prefix}{path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
            status, answer, keep = await connection.send(
                head.encode() + self._headers + b"\r\n" + body
            )
        except (OSError, ValueError, TimeoutError, RuntimeError) as exc:
            if connection is not None:
                connection.close()
            if expired or isinstance(exc, TimeoutError):
                raise PolicyUnavailableError(
                    f"OPA did not answer within {timeout * 1000:.0f} ms"
                ) from None
            raise PolicyUnavailableError(f"OPA is unreachable at {self.url}: {exc}") from None
        except BaseException:  # cancelled mid-exchange: the answer would confuse the next user
            if connection is not None:
                connection.close()
            raise
        finally:
            timer.cancel()
        if keep and not connection.closed and len(self._idle) < _MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()
        return status, answer

    def _warm(self) -> _Connection | None:
        """An idle connection still open (one OPA closed is dropped), or None."""
        while self._idle:
            connection = self._idle.pop()
            transport = connection.transport
            if not connection.closed and transport is not None and not transport.is_closing():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._unix is not None:
            _, connection = await loop.create_unix_connection(_Connection, self._unix)
        else:
            _, connection = await loop.create_connection(_Connection, self._host, self._port)
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class OpaChild:
    """OPA as a child process of this worker (embedded mode), restarted whenever it exits.

    It listens on a unix socket in `workdir` and pulls its bundle from Giru's own HTTP
    listener (`bundle_url`) with a per-process bearer token.
    """

    def __init__(self, binary: Path, workdir: Path, bundle_url: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.socket = workdir / "opa.sock"
        self.bundle_url = bundle_url
        self.token = secrets.token_urlsafe(32)
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "opa.yaml"
        config.write_bytes(orjson.dumps(self._config()))  # JSON is YAML
        config.chmod(0o600)
        await self._spawn()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def _config(self) -> dict[str, Any]:
        url, _, resource = self.bundle_url.rpartition("/")
        return {
            "services": {"giru": {"url": url, "credentials": {"bearer": {"token": self.token}}}},
            "bundles": {
                "giru": {
                    "service": "giru",
                    "resource": resource,
                    "polling": {"min_delay_seconds": 1, "max_delay_seconds": 2},
                }
            },
        }

    def _argv(self) -> Sequence[str]:
        return (
            str(self.binary),
            "run",
            "--server",
            "--addr",
            f"unix://{self.socket}",
            "--config-file",
            str(self.workdir / "opa.yaml"),
            "--log-level",
            "error",
            "--log-format",
            "json",
            "--skip-version-check",
        )

    @property
    def running(self) -> bool:
        """The OPA process is alive (False from its exit until the supervisor restarts it)."""
        return self._process is not None and self._process.returncode is None

    async def _spawn(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        log = (self.workdir / "opa.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        _log.info("opa_started", pid=self._process.pid, socket=str(self.socket))

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            process = self._process
            assert process is not None
            started = asyncio.get_running_loop().time()
            code = await process.wait()
            if self._closing:
                return
            if asyncio.get_running_loop().time() - started > 30:
                failures = 0
            delay = _RESTART_BACKOFF_S[min(failures, len(_RESTART_BACKOFF_S) - 1)]
            failures += 1
            self.restarts += 1
            _log.error("opa_exited", code=code, restart_in_s=delay, restarts=self.restarts)
            await asyncio.sleep(delay)
            try:
                await self._spawn()
            except OSError as exc:
                _log.error("opa_start_failed", error=str(exc))

    async def aclose(self) -> None:
        self._closing = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when this worker dies, however it dies (SIGKILL too),
    so no OPA outlives its gateway."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _excerpt(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")
