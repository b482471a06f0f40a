"""`python -m bench.bookkeeping [--ref REV] [--rounds R] [--calls N] [--only TEXT]`: the data
path's own bookkeeping around a governed tools/call in commit REV's code (default: main) beside
the work tree's (only the benches whose name holds TEXT), paired in this one process (issue
15): the modern transport's answer loop (`giru.proxy.modern.ModernHttp`: a call's dispatch
task streamed to the client while the request watches for the client going away), with a
dispatcher that suspends once and answers;
what `/mcp` POST handling wraps around a call (`gate.identified`, the trail's send wrappers and
`finishing`: the event id, the `Giru-Request-Id` header, the status noted, the log line); and
the secret redaction over the canonical log line's fields (`giru.telemetry.logging`); and a
governed call through `giru.proxy.gate.CallGate.run` making its usage and audit records durable
(sinks over a model spool whose group commit resolves every waiting record one loop turn later;
REV's gate awaits `record`, the work tree's awaits the futures of `submit`).

REV's modules are loaded from `git archive REV src/giru` under `ref_giru.*` (what they import
from giru is the work tree's). Each bench is its own bench.pairs run on this thread's CPU clock:
per round one block per side in a shuffled order, the median of the per-round differences with
a bootstrap 95 % interval, and an A/A pair (the work tree twice). Printed and written as JSON,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog
import uvloop
from prometheus_client import CollectorRegistry

from bench.envelope import ANSWER, HEADERS, REQUEST
from bench.pairs import compare_blocks
from bench.refcode import ref_modules
from giru.audit import AuditMetrics
from giru.catalog.views import build_view
from giru.limits import LocalLimiter
from giru.mcp.jsonrpc import Message, parse_message
from giru.mcp.versions import RequestEnvelope
from giru.metering import UsageMetrics
from giru.proxy import gate as work_gate
from giru.proxy import modern as work_modern
from giru.proxy import trail as work_trail
from giru.proxy.context import CallContext
from giru.proxy.endpoints import ANONYMOUS
from giru.proxy.http import Request
from giru.proxy.listen import ListenHub
from giru.telemetry import logging as work_logging

__all__ = ["main"]

Block = Callable[[int], Awaitable[None]]


class _Dispatcher:
    """Answers every call after one suspension (where the real one awaits its upstream)."""

    def __init__(self) -> None:
        self._answer = parse_message(ANSWER).raw["result"]

    async def dispatch(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"jsonrpc": "2.0", "id": message.id, "result": self._answer}


async def _ignore(message: MutableMapping[str, Any]) -> None:
    return None


def _modern_block(module: ModuleType) -> Block:
    """`n` tools/calls through `module`'s ModernHttp answer loop (`_call`: start the run,
    watch the client, answer), each on a request whose client stays connected."""
    modern = module.ModernHttp(_Dispatcher(), ListenHub())
    message = parse_message(REQUEST)
    envelope = RequestEnvelope(protocol_version="2026-07-28", client_capabilities={})
    view = build_view([], prefix=True, allow_tool=lambda server, tool: True)
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": HEADERS}
    connected = asyncio.Event()

    async def receive() -> MutableMapping[str, Any]:
        await connected.wait()  # never set: the client stays until the answer
        return {"type": "http.disconnect"}

    async def block(n: int) -> None:
        for _ in range(n):
            ctx = CallContext(
                view=view, client="bench", protocol_version="2026-07-28", era="modern"
            )
            await modern._call(Request(scope, receive), _ignore, ctx, message, envelope)

    return block


def _wrappers_block(gate: ModuleType, trail: ModuleType) -> Block:
    """`n` requests' wrapping in `gate` and `trail`'s code, as `Gateway._post` does it: the
    event id, the trail (tracing off), the send wrappers, `finishing`, and a JSON answer's two
    sends (to a send that drops them). Logging is off (the log line is the same both sides)."""
    message = parse_message(REQUEST)
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": HEADERS}
    request = Request(scope, _never)
    start = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}
    body = {"type": "http.response.body", "body": ANSWER}

    main_shape = hasattr(trail, "watched")  # identified wrapped send; watched noted the status

    async def block(n: int) -> None:
        for _ in range(n):
            if main_shape:
                send, event_id = gate.identified(_ignore, request, len(REQUEST))
            else:
                event_id = gate.identified(request, len(REQUEST))
            arrival = trail.Arrival(event_id, ANONYMOUS, "/mcp", "modern", 0, 0)
            found = trail.open_trail(None, request, arrival, message)
            send = trail.watched(send, found) if main_shape else trail.answering(_ignore, found)
            with trail.finishing(found):
                await send(start)
                await send(body)

    return block


def _redaction_block(logging_module: ModuleType) -> Block:
    """`n` canonical log lines' fields (as structlog hands them on) through `logging_module`'s
    `redact_secrets`."""
    redact = logging_module.redact_secrets
    fields = {
        "event": "mcp_request",
        "event_id": "0190abcd-1234-7000-8000-000000000000",
        **dict.fromkeys(("trace_id", "person", "session", "code")),
        **dict.fromkeys(("endpoint", "client", "method", "tool", "server", "era"), "x"),
        **{"outcome": "ok", "decision": "allow", "status": 200, "ms": 1.2, "level": "info"},
        "timestamp": "2026-12-07T14:40:00.000000Z",
    }

    async def block(n: int) -> None:
        for _ in range(n):
            redact(None, "info", dict(fields))

    return block


class _ModelSpool:
    """A spool's request-path part: a future per record, all set one loop turn later (the
    group commit, without the disk)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def submit(self, record: Any) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._waiters:
            loop.call_soon(self._commit)
        self._waiters.append(done)
        return done

    def _commit(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class _ModelSink:
    """The usage writer or audit log over a model spool, in REV's shape (`record`: await the
    append, then count the record) and the work tree's (`submit`: the future, counted by its
    done callback), counting into real metrics as they do."""

    def __init__(self, count: Callable[[str], None]) -> None:
        self._spool = _ModelSpool()
        self._count = count

    def check_capacity(self) -> None:
        return None

    async def record(self, record: Any) -> None:
        await self._spool.submit(record)
        self._count(record["outcome"])

    def submit(self, record: Any, usage: Any = None) -> asyncio.Future[None]:
        """`usage`: the call's usage record, in the same frame (the work tree's audit log)."""
        durable = self._spool.submit(record)
        durable.add_done_callback(partial(self._counted, record["outcome"]))
        return durable

    def _counted(self, outcome: str, durable: asyncio.Future[None]) -> None:
        if not durable.cancelled() and durable.exception() is None:
            self._count(outcome)


def _gate_block(gate: ModuleType) -> Block:
    """`n` anonymous tools/calls through `gate`'s `CallGate.run` (no policy, no limits, an
    upstream answering at once): the records made, submitted and awaited durable."""
    usage = _ModelSink(UsageMetrics(CollectorRegistry()).count_record)
    audit = _ModelSink(AuditMetrics(CollectorRegistry()).count_record)
    call_gate = gate.CallGate(LocalLimiter("UTC"), usage, node="bench", audit=audit)
    message = parse_message(REQUEST)
    subject = gate.Subject("tools/call", "kit", "echo", {}, None, "2025-06-18")
    answer = {"jsonrpc": "2.0", "id": message.id, "result": parse_message(ANSWER).raw["result"]}

    async def forward() -> dict[str, Any]:
        return answer

    async def block(n: int) -> None:
        for _ in range(n):
            await call_gate.run(None, message, subject, forward)

    return block


async def _never() -> MutableMapping[str, Any]:
    await asyncio.Event().wait()
    return {"type": "http.disconnect"}


async def _run(ref: str, rounds: int, calls: int, only: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-bookkeeping-") as directory:
        modern, gate, trail, logs = ref_modules(
            ref,
            Path(directory),
            ("proxy.modern", "proxy.gate", "proxy.trail", "telemetry.logging"),
        )
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        benches: dict[str, dict[str, Block]] = {
            "modern answer loop (a call answered after one suspension)": {
                ref: _modern_block(modern),
                "work tree": _modern_block(work_modern),
                "work tree again": _modern_block(work_modern),
            },
            "request wrappers (event id, send wrappers, finishing; two sends)": {
                ref: _wrappers_block(gate, trail),
                "work tree": _wrappers_block(work_gate, work_trail),
                "work tree again": _wrappers_block(work_gate, work_trail),
            },
            "gate: a governed call's usage and audit records made durable": {
                ref: _gate_block(gate),
                "work tree": _gate_block(work_gate),
                "work tree again": _gate_block(work_gate),
            },
            "canonical log line: secret redaction": {
                ref: _redaction_block(logs),
                "work tree": _redaction_block(work_logging),
                "work tree again": _redaction_block(work_logging),
            },
        }
        results = await compare_blocks(benches, calls=calls, rounds=rounds, only=only)
    return {"ref": ref, "benches": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bookkeeping", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side per round")
    parser.add_argument("--only", default="", help="the benches whose name holds this text")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = uvloop.run(_run(args.ref, args.rounds, args.calls, args.only))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
