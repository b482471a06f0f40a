"""`python -m bench.wake_cost [--rounds R] [--blocks N]`: what waking up costs on this machine,
apart from Giru: the thread CPU of the same small piece of Python work right after the thread slept
2 ms (its core idle or lent to other processes), right after it spun 2 ms (core kept, caches
warm), and back to back; and the thread CPU per message of a uvloop echo loop on the gateway
core fed one message every 2 ms, back to back, or 16 at a time every 2 ms.

Rounds alternate the modes (shuffled order per round); each figure is the median over rounds of
a block's median, with the paired difference from back to back and its 95 % interval
(bench.pairs). Explains why a call that arrives alone costs more CPU than one among 16.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
from collections.abc import Callable
from typing import Final

import orjson
import uvloop

from bench.fleet import GATEWAY_CPUS, LOAD_CPUS
from bench.pairs import median_ci, shuffled

__all__ = ["main"]

_GAP_S: Final = 0.002
_DOC: Final = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "s00__echo", "arguments": {"text": "hello" * 20, "n": list(range(50))}},
}


def _work() -> None:
    for _ in range(20):
        body = orjson.loads(orjson.dumps(_DOC))
        body["params"]["seen"] = {str(i): i for i in range(30)}


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


_BEFORE: Final[dict[str, Callable[[], None]]] = {
    "back to back": lambda: None,
    "after 2 ms asleep": lambda: time.sleep(_GAP_S),
    "after 2 ms spinning": lambda: _spin(_GAP_S),
}


def _work_block(mode: str, blocks: int) -> float:
    """Median thread CPU µs of `_work` over `blocks` runs, each after `mode`."""
    spent = []
    for _ in range(blocks):
        _BEFORE[mode]()
        began = time.thread_time_ns()
        _work()
        spent.append((time.thread_time_ns() - began) / 1000)
    return statistics.median(spent)


def _echo_block(gap_s: float, burst: int, messages: int) -> float:
    """Thread CPU µs per message of a uvloop echo loop on the gateway core (forked), fed from
    this process on the load core."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echo loop: report its CPU per message through the socket
        ours.close()
        os.sched_setaffinity(0, GATEWAY_CPUS)
        theirs.setblocking(False)
        spent = uvloop.run(_echo(theirs, messages))
        theirs.setblocking(True)
        theirs.recv(1)  # the last echo is read: the report comes alone
        theirs.sendall(f"\n{spent / messages / 1000:.3f}\n".encode())
        os._exit(0)
    theirs.close()
    sent = 0
    while sent < messages:
        ours.sendall(b"x" * burst)
        sent += burst
        got = 0
        while got < burst:
            got += len(ours.recv(4096))
        if gap_s:
            time.sleep(gap_s)
    ours.sendall(b"?")
    answer = b""
    while not answer.endswith(b"\n") or answer.count(b"\n") < 2:
        answer += ours.recv(4096)
    os.waitpid(child, 0)
    ours.close()
    return float(answer.split(b"\n")[-2])


async def _echo(sock: socket.socket, messages: int) -> int:
    loop = asyncio.get_running_loop()
    began, got = time.thread_time_ns(), 0
    while got < messages:
        data = await loop.sock_recv(sock, 4096)
        got += len(data)
        await loop.sock_sendall(sock, data)
    return time.thread_time_ns() - began


_ECHO: Final = {
    "echo, back to back": (0.0, 1),
    "echo, one every 2 ms": (_GAP_S, 1),
    "echo, 16 every 2 ms": (_GAP_S, 16),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wake_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--blocks", type=int, default=300, help="runs (or messages) per block")
    args = parser.parse_args(argv)
    load_before = [round(v, 2) for v in os.getloadavg()]
    figures: dict[str, list[float]] = {name: [] for name in (*_BEFORE, *_ECHO)}
    placed = os.sched_getaffinity(0)
    for name in shuffled(figures, args.rounds, seed=7):
        if name in _BEFORE:
            os.sched_setaffinity(0, GATEWAY_CPUS)
            figures[name].append(_work_block(name, args.blocks))
        else:
            os.sched_setaffinity(0, LOAD_CPUS)
            gap_s, burst = _ECHO[name]
            figures[name].append(_echo_block(gap_s, burst, args.blocks * burst))
    os.sched_setaffinity(0, placed)
    load_after = [round(v, 2) for v in os.getloadavg()]
    print(f"load {load_before} -> {load_after}, {args.rounds} rounds x {args.blocks}")
    for base, names in (("back to back", _BEFORE), ("echo, back to back", _ECHO)):
        for name in names:
            line = f"  {name:<22} {statistics.median(figures[name]):8.1f} µs"
            if name != base:
                diffs = [a - b for a, b in zip(figures[name], figures[base], strict=True)]
                low, high = median_ci(diffs)
                line += f"   vs {base}: {statistics.median(diffs):+.1f} ({low:+.1f} … {high:+.1f})"
            print(line)


if __name__ == "__main__":
    main()
