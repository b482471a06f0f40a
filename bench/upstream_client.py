"""`python -m bench.upstream_client [--ref REV] [--rounds R] [--calls N]`: the CPU of one
stateless tools/call exchange through Giru's Streamable HTTP connector (`giru.upstream.http`
over the client the app builds: the lean `giru.egress.lean.LeanClient` where the code has one,
else the egress-guarded aiohttp session), in commit REV's code (default: main) beside the work
tree's, paired in this one process (issue 15).

bench.upstream's fake MCP server runs as a child process on a free loopback port, pinned away
from this process (bench.fleet.LOAD_CPUS); this process is pinned to GATEWAY_CPUS. Each side is
a started `StreamableHttpSession` (its own client and pool); a block is `calls`
tools/calls made by 16 concurrent callers. REV's `egress/sessions.py`, `egress/lean.py` (when
it has one), `upstream/_http_io.py` and `upstream/http.py` are loaded from `git archive REV`
(each sees REV's modules loaded before it; the rest of giru is the work tree's). Two more sides
give the floor: a bare aiohttp POST (a plain `ClientSession`, body read) and a bare keep-alive
POST on an `asyncio.Protocol` with httptools' response parser. The clock is this thread's CPU
time (`time.thread_time_ns`); the figures are the median per-call CPU over rounds, and the
median of the per-round paired
differences with a bootstrap 95 % interval, with an A/A pair (the work tree twice). Printed,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import aiohttp
import orjson
import uvloop

from bench.fleet import GATEWAY_CPUS, LOAD_CPUS, REPO
from bench.keepalive import keepalive_pool
from bench.pairs import paired, said, shuffled
from bench.procs import Proc, free_port, start, wait_http
from bench.refcode import ref_source
from giru.egress import AddressPolicy
from giru.egress import lean as work_lean
from giru.egress import sessions as work_sessions
from giru.upstream import ClientIdentity, ServerSpec
from giru.upstream import http as work_http

__all__ = ["main"]

CONCURRENCY: Final = 16
_REF_MODULES: Final = ("egress.sessions", "egress.lean", "upstream._http_io", "upstream.http")
_VERSUS: Final = (
    ("work tree", "REV"),
    ("work tree again", "work tree"),
    ("bare aiohttp", "REV"),
    ("bare protocol", "bare aiohttp"),
)
_CALL: Final = {"name": "echo", "arguments": {"text": "hello"}}
_POLICY: Final = AddressPolicy(allow_loopback=True)

Block = Callable[[int], Awaitable[None]]


@contextlib.contextmanager
def _seeing(modules: dict[str, ModuleType]) -> Iterator[None]:
    """`giru.<name>` imports resolve to `modules` while a REV module is executed."""
    saved = {name: sys.modules.get(f"giru.{name}") for name in modules}
    sys.modules.update({f"giru.{name}": module for name, module in modules.items()})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(f"giru.{name}", None)
            else:
                sys.modules[f"giru.{name}"] = module


def _ref(ref: str, workdir: Path) -> dict[str, ModuleType]:
    """REV's connector modules, each executed seeing REV's modules loaded before it."""
    root = ref_source(ref, workdir)
    loaded: dict[str, ModuleType] = {}
    for name in _REF_MODULES:
        path = root.joinpath(*name.split(".")).with_suffix(".py")
        if not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(f"ref_giru.{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        with _seeing(loaded):
            spec.loader.exec_module(module)
        loaded[name] = module
    return loaded


async def _sink(message: dict[str, Any]) -> dict[str, Any] | None:
    return None


@contextlib.asynccontextmanager
async def _connector_side(url: str, modules: dict[str, Any]) -> AsyncIterator[Block]:
    """A started `StreamableHttpSession` of `modules` ("egress.sessions", "upstream.http",
    and "egress.lean" when the code has it)."""
    http_module = modules["upstream.http"]
    async with _client(modules) as http:
        spec = ServerSpec(name="bench", transport="streamable-http", url=url)
        session = http_module.StreamableHttpSession(
            spec, ClientIdentity(), on_unsolicited=_sink, http=http
        )
        await session.start()

        async def call() -> None:
            await session.request("tools/call", dict(_CALL))

        try:
            yield _blocks(call)
        finally:
            await session.aclose()


def _client(modules: dict[str, Any]) -> contextlib.AbstractAsyncContextManager[Any]:
    """The client the app gives the connectors in this code: lean, or an aiohttp session."""
    if "egress.lean" in modules:
        return modules["egress.lean"].LeanClient(_POLICY)  # type: ignore[no-any-return]
    sessions = modules["egress.sessions"]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    connector = sessions.egress_connector(_POLICY, limit=256)
    return sessions.egress_session(  # type: ignore[no-any-return]
        _POLICY, timeout=timeout, connector=connector
    )


@contextlib.asynccontextmanager
async def _bare_aiohttp(url: str) -> AsyncIterator[Block]:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": _CALL})
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    async with aiohttp.ClientSession() as http:

        async def call() -> None:
            async with http.post(url, data=body, headers=headers) as response:
                orjson.loads(await response.read())

        yield _blocks(call)


@contextlib.asynccontextmanager
async def _bare_protocol(port: int) -> AsyncIterator[Block]:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": _CALL})
    request = (
        b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        b"accept: application/json\r\ncontent-length: %d\r\n\r\n%s" % (port, len(body), body)
    )
    async with keepalive_pool(port, CONCURRENCY, request, orjson.loads) as block:
        yield block


def _blocks(call: Callable[[], Awaitable[None]]) -> Block:
    async def block(calls: int) -> None:
        left = calls

        async def caller() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await call()

        async with asyncio.TaskGroup() as group:
            for _ in range(CONCURRENCY):
                group.create_task(caller())

    return block


async def _run(ref: str, port: int, calls: int, rounds: int, workdir: Path) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/mcp"
    work = {"egress.sessions": work_sessions, "egress.lean": work_lean, "upstream.http": work_http}
    sides = {
        "REV": _connector_side(url, _ref(ref, workdir)),
        "work tree": _connector_side(url, work),
        "work tree again": _connector_side(url, work),
        "bare aiohttp": _bare_aiohttp(url),
        "bare protocol": _bare_protocol(port),
    }
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    async with contextlib.AsyncExitStack() as stack:
        blocks = {name: await stack.enter_async_context(side) for name, side in sides.items()}
        for block in blocks.values():  # warm up: pools filled, code paths taken
            await block(calls)
        gc.set_threshold(20_000, 50, 1_000)  # as the gateway runs (giru.app, giru.runtime)
        gc.freeze()
        load = os.getloadavg()
        for name in shuffled(blocks, rounds, seed=17):
            started = time.thread_time_ns()
            await blocks[name](calls)
            cpu[name].append((time.thread_time_ns() - started) / calls / 1000)
    return {
        "cpu_us_per_call": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "differences": {f"{a} - {b}": said(paired(cpu[a], cpu[b])) for a, b in _VERSUS},
        "load": [round(v, 2) for v in (*load, *os.getloadavg())],
    }


def _upstream(workdir: Path) -> tuple[Proc, int]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    proc = start("upstream", argv, workdir, cpus=LOAD_CPUS, cwd=REPO)
    wait_http(proc, f"http://127.0.0.1:{port}/mcp", ok=(405,))
    return proc, port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream_client", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--calls", type=int, default=400, help="calls per block")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="giru-bench-upstream-client-") as directory:
        proc, port = _upstream(Path(directory))
        try:
            os.sched_setaffinity(0, GATEWAY_CPUS)
            result = uvloop.run(_run(args.ref, port, args.calls, args.rounds, Path(directory)))
        finally:
            proc.stop()
    for name, us in result["cpu_us_per_call"].items():
        print(f"{name:>16}: {us:8.2f} µs thread CPU per call")
    for name, difference in result["differences"].items():
        print(f"{name}: {difference} CPU per call")
    print(f"load (1, 5, 15 min) before, after: {result['load']}")


if __name__ == "__main__":
    main()
