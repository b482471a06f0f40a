"""`python -m bench.envelope [--ref REV] [--rounds R] [--calls N]`: what parsing a tools/call's
two JSON-RPC envelopes costs (the client's request and the upstream's answer, both through
`giru.mcp.jsonrpc.parse_message`) and `McpHeaders.from_pairs` over a request's headers, in
commit REV's code (default: main) beside the work tree's, in this one process.

REV's `giru.mcp` is loaded from `git archive REV src` under another package name; each round
times both sides on the same inputs in a shuffled order (CPU time of this thread), and the
difference is the median of the per-round differences with a bootstrap 95 % interval
(bench.pairs.median_ci). An A/A pair (the work tree twice) says what the method resolves.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from bench.pairs import paired, shuffled
from bench.refcode import ref_modules
from giru.mcp import headers as work_headers
from giru.mcp import jsonrpc as work_jsonrpc

__all__ = ["main"]

REQUEST: Final = (
    b'{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"s00__echo",'
    b'"arguments":{"text":"hello world"},"_meta":{"progressToken":3}}}'
)
ANSWER: Final = (
    b'{"jsonrpc":"2.0","id":17,"result":{"content":[{"type":"text","text":"hello world"}],'
    b'"isError":false}}'
)
HEADERS: Final = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"Python/3.11 aiohttp/3.14.5"),
    (b"accept", b"application/json, text/event-stream"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"content-type", b"application/json"),
    (b"mcp-protocol-version", b"2026-07-28"),
    (b"mcp-method", b"tools/call"),
    (b"mcp-name", b"s00__echo"),
    (b"authorization", b"Bearer bench-key-0123456789abcdef"),
    (b"content-length", b"150"),
]


def _work(jsonrpc: ModuleType, headers: ModuleType) -> Callable[[], object]:
    parse, pairs = jsonrpc.parse_message, headers.McpHeaders.from_pairs

    def one() -> object:
        pairs(HEADERS)
        parse(REQUEST)
        return parse(ANSWER)

    return one


def _time(work: Callable[[], object], calls: int) -> float:
    started = time.thread_time_ns()
    for _ in range(calls):
        work()
    return (time.thread_time_ns() - started) / calls / 1000


def run(ref: str, rounds: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-envelope-") as directory:
        ref_jsonrpc, ref_headers = ref_modules(ref, Path(directory), ("mcp.jsonrpc", "mcp.headers"))
        sides = {
            ref: _work(ref_jsonrpc, ref_headers),
            "work tree": _work(work_jsonrpc, work_headers),
            "work tree again": _work(work_jsonrpc, work_headers),
        }
        for work in sides.values():
            _time(work, calls)  # warm up
        seen: dict[str, list[float]] = {name: [] for name in sides}
        load_before = os.getloadavg()
        for name in shuffled(sides, rounds, seed=7):
            seen[name].append(_time(sides[name], calls))
        load_after = os.getloadavg()

    def versus(a: str, b: str) -> dict[str, Any]:
        return paired(seen[a], seen[b])

    return {
        "ref": ref,
        "rounds": rounds,
        "calls_per_round": calls,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in load_after],
        "us_per_call": {name: round(statistics.median(v), 2) for name, v in seen.items()},
        "work tree - ref": versus("work tree", ref),
        "work tree again - work tree": versus("work tree again", "work tree"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.envelope", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side per round")
    args = parser.parse_args(argv)
    result = run(args.ref, args.rounds, args.calls)
    for name, us in result["us_per_call"].items():
        print(f"{name:>16}: {us:8.2f} µs per call (headers + request + answer)")
    for key in ("work tree - ref", "work tree again - work tree"):
        entry = result[key]
        low, high = entry["ci95"]
        print(f"{key:>28}: {entry['median']:+8.2f} µs (95 % CI {low:+.2f} … {high:+.2f})")
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}")


if __name__ == "__main__":
    main()
