"""`python -m bench.hot_path [--ref REV] [--rounds R] [--calls N]`: the front of a tools/call
in commit REV's code (default: main) beside the work tree's, paired in this one process (issue
15): a request's bytes through the guarded HTTP protocol (`giru.proxy.protocol`: the header
limits over uvicorn's httptools protocol), the app's CORS check and routing of a `/mcp` POST
without an Origin header (`giru.app.GiruApp` with its `Cors`), and the requestState binding a
modern call computed up front before it was made lazy (`giru.proxy.modern`).

REV's `protocol.py`, `cors.py` and `app.py` are loaded from `git archive REV src/giru` under
`ref_giru.*` (what they import from giru is the work tree's; the REV app gets REV's `Cors`).
Each cut is its own bench.pairs run on this thread's CPU clock: per round one short block per
side in a shuffled order, the median of the per-round differences with a bootstrap 95 %
interval, and an A/A pair (the work tree twice). Printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import orjson
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from bench.envelope import HEADERS, REQUEST
from bench.pairs import compare_blocks
from bench.refcode import ref_modules
from giru import app as work_app
from giru.catalog.views import build_view
from giru.mcp.jsonrpc import parse_message
from giru.proxy import cors as work_cors
from giru.proxy import protocol as work_protocol
from giru.proxy.checks import HttpGuard
from giru.proxy.context import CallContext, binding_of
from giru.settings import Settings

__all__ = ["main"]

_HEADERS: Final = [
    (name, str(len(REQUEST)).encode() if name == b"content-length" else value)
    for name, value in HEADERS
]
_WIRE: Final = (
    b"POST /mcp HTTP/1.1\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _HEADERS)
    + b"\r\n"
    + REQUEST
)


class _Transport(asyncio.Transport):
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _protocol_block(module: ModuleType) -> Callable[[int], Awaitable[None]]:
    """`n` requests through one keep-alive connection of `module`'s protocol (each answered
    204 by an app that does nothing else before the next arrives)."""
    config = Config(_answer, lifespan="off", log_config=None, access_log=False)
    config.load()
    cls = module.guarded_protocol(5.0)

    async def block(n: int) -> None:
        protocol = cls(config, ServerState(), {}, asyncio.get_running_loop())
        protocol.connection_made(_Transport())
        for _ in range(n):
            protocol.data_received(_WIRE)
            await asyncio.sleep(0)  # the request's task answers
        protocol.connection_lost(None)

    return block


def _route_block(
    app_module: ModuleType, cors_module: ModuleType
) -> Callable[[int], Awaitable[None]]:
    """`n` POST /mcp (no Origin) through `app_module`'s GiruApp with `cors_module`'s Cors, to a
    gateway that only suspends three times."""
    app = app_module.GiruApp(Settings())
    app.cors = cors_module.Cors(HttpGuard(loopback=True))

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(3):  # a tools/call resumes the app's coroutines ~4 times (profile)
            await asyncio.sleep(0)

    app.gateway = gateway
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "headers": list(_HEADERS),
    }

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def block(n: int) -> None:
        for _ in range(n):
            await app(scope, receive, send)

    return block


def _binding_block(compute: bool) -> Callable[[int], Awaitable[None]]:
    """What a modern call did up front before the binding was made lazy: `compute` → the
    binding text of a tools/call (the work removed), else nothing."""
    message = parse_message(REQUEST)
    view = build_view([], prefix=True, allow_tool=lambda server, tool: True)
    ctx = CallContext(view=view, client="bench", protocol_version="2026-07-28", era="modern")

    async def block(n: int) -> None:
        for _ in range(n):
            if compute:
                orjson.dumps(binding_of(ctx, message).fields()).decode()

    return block


async def _run(ref: str, rounds: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-hot-path-") as directory:
        protocol, cors, app = ref_modules(
            ref, Path(directory), ("proxy.protocol", "proxy.cors", "app")
        )
        benches = {
            "protocol (one request's bytes, 10 headers)": {
                ref: _protocol_block(protocol),
                "work tree": _protocol_block(work_protocol),
                "work tree again": _protocol_block(work_protocol),
            },
            "app: CORS check + routing (POST /mcp, no Origin)": {
                ref: _route_block(app, cors),
                "work tree": _route_block(work_app, work_cors),
                "work tree again": _route_block(work_app, work_cors),
            },
            "modern call: binding text up front": {
                ref: _binding_block(True),
                "work tree": _binding_block(False),
                "work tree again": _binding_block(False),
            },
        }
        results = await compare_blocks(benches, calls=calls, rounds=rounds)
    return {"ref": ref, "benches": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hot_path", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side per round")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = uvloop.run(_run(args.ref, args.rounds, args.calls))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
