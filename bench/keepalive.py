"""A bench client's keep-alive HTTP/1.1 connection: write a request, await its answer's body
(httptools parses the answer; no client library in the measured path)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httptools

__all__ = ["KeepAlive", "keepalive_pool"]


class KeepAlive(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._answer: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._answer is not None:
            self._answer.set_result(b"".join(self._body))
        self._body = []

    async def exchange(self, request: bytes) -> bytes:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._answer


@contextlib.asynccontextmanager
async def keepalive_pool(
    port: int,
    connections: int,
    request: bytes,
    answered: Callable[[bytes], object] = bytes,
) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """`connections` keep-alive connections to 127.0.0.1:`port`; yields a block that sends
    `request` `calls` times over all of them (each answer's body handed to `answered`)."""
    loop = asyncio.get_running_loop()
    pool: list[KeepAlive] = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(KeepAlive, "127.0.0.1", port)
        pool.append(protocol)

    async def block(calls: int) -> None:
        left = calls

        async def caller(connection: KeepAlive) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                answered(await connection.exchange(request))

        async with asyncio.TaskGroup() as group:
            for connection in pool:
                group.create_task(caller(connection))

    try:
        yield block
    finally:
        for connection in pool:
            if connection.transport is not None:
                connection.transport.close()
