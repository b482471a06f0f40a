"""Aggregated sessions that heal, through a real `giru run` and real upstream processes.

An upstream that starts over (an HTTP server restarted: it answers 404 for Giru's old session id;
a stdio child that died) is rejoined for the next call: the client's session is untouched, the
other upstreams are not disturbed, and the tools the restarted server now offers reach the client
with `notifications/tools/list_changed`. An unhealthy server's tools stay listed or leave the
views according to its `catalog.keepStale`, and either way nothing changes without a list_changed.
The upstreams here change their tools by design, so they are `trust: auto` (tool trust would hold
the new tools for review: tests/integration/test_tool_trust.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    SERVERS,
    RestartableServer,
    RunningGiru,
    run_giru,
    wait_until,
)

pytestmark = pytest.mark.integration

_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_ENV = f'{{PYTHONPATH: "{os.pathsep.join(sys.path)}", EVERYTHING_TOOLS_FILE: "{{tools}}"}}'


class Restartable(RestartableServer):
    """everything.py over HTTP on a port that outlives its process; its extra tools come from a
    file read at start-up."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.tools = workdir / f"{name}-tools.txt"
        self.tools.write_text("")
        script = str(SERVERS / "everything.py")
        env = {**os.environ, "EVERYTHING_TOOLS_FILE": str(self.tools)}
        super().__init__(lambda fd: [sys.executable, script, "http", str(fd)], env)

    def restart(self, *tools: str) -> None:
        self.stop()
        self.tools.write_text("\n".join(tools))
        super().restart()


def _http(name: str, url: str, *, keep_stale: bool = True) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: streamable-http
  url: {url}
  timeouts: {{call: 10s, callMax: 20s, connect: 10s}}
  catalog: {{keepStale: {str(keep_stale).lower()}}}
  trust: auto
"""


def _stdio(name: str, tools: Path) -> str:
    script = SERVERS / "everything.py"
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: stdio
  command: {sys.executable}
  args: ["{script}", "stdio"]
  env: {_ENV.replace("{tools}", str(tools))}
  timeouts: {{call: 10s, callMax: 20s, connect: 20s}}
  trust: auto
"""


@dataclass
class Upstreams:
    giru: RunningGiru
    web: Restartable
    stdio_tools: Path


@pytest.fixture(scope="module")
def restarts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """Health checks every 15 s and three failures before unhealthy: a restart is only ever
    noticed through the calls themselves."""
    workdir = tmp_path_factory.mktemp("healing")
    web = Restartable(workdir, "web")
    stdio_tools = workdir / "py-tools.txt"
    stdio_tools.write_text("")
    manifests = "---".join([_http("web", web.url), _stdio("py", stdio_tools), CLIENT])
    try:
        with run_giru(manifests, workdir) as giru:
            yield Upstreams(giru, web, stdio_tools)
    finally:
        web.close()


class Listener:
    """A legacy client session that counts the tools/list_changed notifications it receives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.changes = 0
        self._changed = asyncio.Condition()

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            async with self._changed:
                self.changes += 1
                self._changed.notify_all()

    async def tools(self) -> set[str]:
        return {t.name for t in (await self.client.list_tools()).tools}

    async def listed_after_a_change(self, seen: int, predicate: str, *, present: bool) -> None:
        """Wait for list_changed notifications after the `seen`-th until the listing has (or no
        longer has) the tool `predicate`; each notification means "list again"."""

        async def wait() -> None:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: self.changes > seen)
                if (predicate in await self.tools()) == present:
                    return

        await asyncio.wait_for(wait(), 30)

    async def text(self, tool: str, arguments: dict[str, str] | None = None) -> str:
        result = await self.client.call_tool(tool, arguments or {})
        assert not result.is_error, result
        content = result.content[0]
        assert isinstance(content, types.TextContent)
        return content.text


@asynccontextmanager
async def legacy_client(giru: RunningGiru) -> AsyncIterator[Listener]:
    holder: list[Listener] = []

    async def on_message(message: IncomingMessage) -> None:
        await holder[0].on_message(message)

    async with (
        create_mcp_http_client(headers=giru.headers) as http,
        Client(
            streamable_http_client(giru.url("/mcp"), http_client=http),
            mode="legacy",
            message_handler=on_message,
        ) as client,
    ):
        holder.append(Listener(client))
        yield holder[0]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            found |= {int(child) for child in listing.read().split()}
    return found


def _stdio_child(pid: int) -> int:
    for child in _children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            if b"everything.py\x00stdio" in cmdline.read():
                return child
    raise AssertionError("the stdio upstream's child is not running")


async def test_a_restarted_http_upstream_is_rejoined_for_the_next_call(
    restarts: Upstreams,
) -> None:
    async with legacy_client(restarts.giru) as client:
        assert await client.text("web__echo", {"text": "before"}) == "before"
        seen = client.changes
        restarts.web.restart("fresh")  # the new process has never heard of Giru's session
        assert await client.text("web__echo", {"text": "after"}) == "after"
        assert await client.text("py__echo", {"text": "untouched"}) == "untouched"
        await client.listed_after_a_change(seen, "web__fresh", present=True)
        assert await client.text("web__fresh") == "fresh"


async def test_a_stdio_upstream_whose_child_died_is_restarted_for_the_next_call(
    restarts: Upstreams,
) -> None:
    async with legacy_client(restarts.giru) as client:
        assert await client.text("py__echo", {"text": "before"}) == "before"
        seen = client.changes
        pid = restarts.giru.process.pid
        child = _stdio_child(pid)
        restarts.stdio_tools.write_text("reborn")
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: child not in _children(pid), "Giru reaped the dead child")
        assert await client.text("py__echo", {"text": "after"}) == "after"
        assert await client.text("web__echo", {"text": "untouched"}) == "untouched"
        await client.listed_after_a_change(seen, "py__reborn", present=True)
        assert await client.text("py__reborn") == "reborn"


@dataclass
class DownUpstreams:
    giru: RunningGiru
    stale: Restartable
    strict: Restartable


def _until_unhealthy(giru: RunningGiru, server: str) -> None:
    def unhealthy() -> bool:
        answer = httpx.get(giru.url(f"/api/v1/servers/{server}"), headers=_ADMIN, timeout=10)
        return bool(answer.json().get("status", {}).get("health") == "unhealthy")

    wait_until(unhealthy, f"{server} is unhealthy")


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DownUpstreams]:
    """Fast health checks, one failure makes a server unhealthy."""
    workdir = tmp_path_factory.mktemp("keep-stale")
    stale, strict = Restartable(workdir, "stale"), Restartable(workdir, "strict")
    manifests = "---".join(
        [_http("stale", stale.url), _http("strict", strict.url, keep_stale=False), CLIENT]
    )
    env = {
        "GIRU_CATALOG__HEALTH_INTERVAL_S": "0.3",
        "GIRU_CATALOG__HEALTH_TIMEOUT_S": "1",
        "GIRU_CATALOG__UNHEALTHY_AFTER": "1",
    }
    try:
        with run_giru(manifests, workdir, extra_env=env) as giru:
            yield DownUpstreams(giru, stale, strict)
    finally:
        stale.close()
        strict.close()


async def test_keep_stale_decides_whether_a_down_server_stays_listed_and_changes_are_announced(
    health: DownUpstreams,
) -> None:
    async with legacy_client(health.giru) as client:
        assert {"stale__echo", "strict__echo"} <= await client.tools()
        seen = client.changes
        health.stale.stop()
        health.strict.stop()
        await client.listed_after_a_change(seen, "strict__echo", present=False)
        assert "stale__echo" in await client.tools()  # keepStale: true (the default)
        # Its check may end a moment after strict's (a refused connection fails at once, one
        # left in the backlog of the listening socket waits out the check's timeout).
        await asyncio.to_thread(_until_unhealthy, health.giru, "stale")
        with pytest.raises(MCPError, match="unhealthy"):  # at once, naming why
            await client.client.call_tool("stale__echo", {"text": "x"})
        seen = client.changes
        health.stale.restart()
        health.strict.restart()
        await client.listed_after_a_change(seen, "strict__echo", present=True)
        assert await client.text("strict__echo", {"text": "back"}) == "back"
