"""Fixtures for connector tests: real MCP servers as child processes on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.upstream import ClientIdentity, ServerSpec, Timeouts

SERVERS = Path(__file__).parent / "servers"
IDENTITY = ClientIdentity(
    capabilities={"sampling": {}, "elicitation": {"form": {}}},
    protocol_version="2025-11-25",
)


@dataclass
class Inbox:
    """A MessageSink that records what it got and answers server->client requests."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: dict[str, Any]) -> dict[str, Any] | None:
        self.messages.append(message)
        self.arrived.set()
        method = message.get("method")
        if "id" in message and isinstance(method, str):
            return {"jsonrpc": "2.0", "id": message["id"], **self.replies.get(method, {})}
        return None

    def methods(self) -> list[str]:
        return [m.get("method", "") for m in self.messages]


def stdio_spec(script: str, *, timeouts: Timeouts | None = None, name: str = "s") -> ServerSpec:
    return ServerSpec(
        name=name,
        transport="stdio",
        command=sys.executable,
        args=(str(SERVERS / script), "stdio"),
        env={"PYTHONPATH": os.pathsep.join(sys.path)},
        timeouts=timeouts or Timeouts(connect=20.0, call=10.0, call_max=30.0),
    )


@dataclass
class HttpServer:
    url: str
    process: asyncio.subprocess.Process


async def _start_http(kind: str) -> AsyncIterator[HttpServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVERS / "everything.py"), kind, str(fd), pass_fds=(fd,)
    )
    sock.close()
    path = "/mcp" if kind == "http" else "/sse"
    try:
        yield HttpServer(url=f"http://127.0.0.1:{port}{path}", process=proc)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    async for server in _start_http("http"):
        yield server


@pytest.fixture
async def sse_server() -> AsyncIterator[HttpServer]:
    async for server in _start_http("sse"):
        yield server


@pytest.fixture
async def http() -> AsyncIterator[LeanClient]:
    """The connectors run over the same guarded session the gateway builds."""
    async with LeanClient(UPSTREAMS) as session:
        yield session


def children_of(pid: int) -> list[int]:
    """Live (non-zombie) child pids of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found
