"""`python -m bench.tracing [--calls N] [--rounds R] [--gateway-calls N] [--gateway-rounds R]`:
what tracing costs per tools/call, in Giru CPU µs (issue 17: off costs nothing measurable, 1 %
sampled at most 10 µs, 100 % reported).

Whole process: five `giru run` started alike (bench.solo: policy off, one upstream) except for
tracing: **off**, **off again** (an A/A pair: the same configuration, what the method reads
when there is no difference), on with `parentbased_traceidratio` **0** (nothing sampled: what
every request pays), **0.01** (1 %) and `parentbased_always_on` (**100 %**), exporting OTLP
http/protobuf to a collector stand-in in this process (it reads each export and answers 200).
They answer 2026-07-28 tools/calls with an API key in paired rounds (bench.pairs: a short block
per gateway per round, shuffled, the per-round differences from off, their median and its 95 %
bootstrap interval), each gateway's CPU read from its process CPU clock (every thread, the
export thread included).

In process: one Gateway on uvloop answers legacy-era tools/call over the ASGI interface (no HTTP
in the measurement) with an upstream that answers at once and the call gate (limits admission,
in-memory usage records, no OPA), its `tracing` switched per block between off, off again (the
A/A pair), 0 %, 1 % and 100 % (spans encoded as OTLP protobuf by Giru's encoder, as its
exporters encode them, and dropped), in paired rounds (200-call blocks, 300 rounds by default)
on this process's CPU clock, the export thread's included: the gateway's own share, with far
less around it. And, alone, the CPU of deciding that a request is not sampled (Giru's own check
beside the SDK sampler's). Printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import itertools
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import orjson
import uvloop
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, set_span_in_context
from prometheus_client import CollectorRegistry

from bench.fleet import LOAD_CPUS
from bench.machine import describe as describe_machine
from bench.pairs import Side, alternate, describe, process_cpu_ns
from bench.report import markdown, paired
from bench.solo import KEY, client_manifest, compare_processes, start_giru, start_upstream
from giru.access.clients import ClientDirectory
from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.limits import LocalLimiter
from giru.manifests import Config
from giru.manifests.config import ClientConfig, ServerConfig
from giru.metering import UsageRecord
from giru.proxy.envelopes import envelope_key
from giru.proxy.gate import CallGate
from giru.proxy.gateway import Gateway
from giru.proxy.upstreams import UpstreamPool
from giru.runtime import build_endpoints
from giru.settings import OtelSettings, Settings
from giru.telemetry.logging import configure_logging
from giru.telemetry.metrics import Metrics
from giru.telemetry.otlp import SpanEncoder
from giru.telemetry.traceparent import remote_context
from giru.telemetry.tracing import Tracing
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec

Block = Callable[[int], Awaitable[None]]
ANSWER = {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": False}}
OUT = Path(__file__).parent / "results" / "tracing"


class _Upstream:
    protocol_version = "2025-11-25"
    initialize_result: dict[str, Any] = {"capabilities": {"tools": {}}}  # noqa: RUF012

    def __init__(self, server: str) -> None:
        self.server = server

    async def request(self, method: str, params: Any, **_: Any) -> dict[str, Any]:
        if method == "tools/list":
            tools = [{"name": "echo", "inputSchema": {"type": "object"}}]
            return {"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}}
        return ANSWER

    async def notify(self, method: str, params: Any) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _Usage:
    def check_capacity(self) -> None:
        return None

    def submit(self, record: UsageRecord) -> asyncio.Future[None]:
        durable = asyncio.get_running_loop().create_future()
        durable.set_result(None)
        return durable


class _EncodingExporter(SpanExporter):
    """Encodes each batch as Giru's OTLP exporters do (giru.telemetry.otlp), then drops it."""

    def __init__(self) -> None:
        self.spans = 0
        self._encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._encoder.encode(spans)
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def _connector(
    spec: ServerSpec,
    identity: ClientIdentity,
    *,
    on_unsolicited: MessageSink,
    http: LeanClient,
) -> _Upstream:
    return _Upstream(spec.name)


async def _no_list_changed(server: str, method: str) -> None:
    return None


def _tracing(sampler: str, ratio: str) -> tuple[Tracing, _EncodingExporter]:
    env = {"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": ratio}
    exporter = _EncodingExporter()
    tracing = Tracing(OtelSettings(), CollectorRegistry(), exporter=exporter, env=env)
    return tracing, exporter


async def _post(app: Gateway, body: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """One POST /mcp straight into the ASGI app; the response start message."""
    sent = False
    started: dict[str, Any] = {}
    never = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    never.cancel()
    return started


Measure = Callable[..., Awaitable[dict[str, Any]]]


async def _in_process(calls: int, rounds: int, measure: Measure = alternate) -> dict[str, Any]:
    """The Gateway in this process, its `tracing` switched per block (paired rounds; or what
    `measure` does with the sides)."""
    config = Config(
        servers={"up": ServerConfig(name="up", transport="stdio", command="/bin/true")},
        clients={
            "bench": ClientConfig(
                name="bench",
                api_key_hash="sha256:" + hashlib.sha256(KEY.encode()).hexdigest(),
                servers=("*",),
            )
        },
    )
    base = [
        (b"authorization", f"Bearer {KEY}".encode()),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"host", b"127.0.0.1:8080"),
    ]
    variants = {
        "off": None,
        "off again": None,  # an A/A pair: what the method reads when there is no difference
        "0%": _tracing("parentbased_traceidratio", "0"),
        "1%": _tracing("parentbased_traceidratio", "0.01"),
        "100%": _tracing("parentbased_always_on", ""),
    }
    async with LeanClient(UPSTREAMS) as http:
        metrics = Metrics()
        pool = UpstreamPool(
            config.server_specs(),
            http=http,
            metrics=metrics,
            on_list_changed=_no_list_changed,
            connector=_connector,
        )
        gateway = Gateway(
            settings=Settings(listen="127.0.0.1:8080"),
            pool=pool,
            metrics=metrics,
            authenticator=ClientDirectory.from_config(config),
            endpoints=build_endpoints(config),
            sealing_key=envelope_key(b"bench-node-secret"),
        )
        await gateway.catalogs.refresh_all()
        gateway.dispatcher.gate = CallGate(LocalLimiter("UTC"), _Usage(), node="bench")
        init = {"protocolVersion": "2025-11-25", "capabilities": {}}
        body = orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
        answer = await _post(gateway, body, base)
        session = dict(answer["headers"])[b"mcp-session-id"]
        headers = [*base, (b"mcp-session-id", session)]
        initialized = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await _post(gateway, initialized, headers)
        call = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "up__echo", "arguments": {"text": "hi"}},
            }
        ).replace(b'"id":1', b'"id":%d')
        ids = itertools.count(1)  # a session refuses a request id it has seen

        def block(variant: tuple[Tracing, _EncodingExporter] | None) -> Block:
            async def run(n: int) -> None:
                gateway.tracing = variant[0] if variant is not None else None
                for _ in range(n):
                    answer = await _post(gateway, call % next(ids), headers)
                    if answer["status"] != 200:
                        raise RuntimeError(f"tools/call answered {answer['status']}")
                if variant is not None:
                    variant[0].queue.force_flush()

            return run

        for variant in variants.values():  # warm up
            await block(variant)(calls)
        clock = lambda: process_cpu_ns(os.getpid())  # noqa: E731
        sides = [Side(name, block(variant), clock) for name, variant in variants.items()]
        result = await measure(sides, calls=calls, rounds=rounds)
        gateway.tracing = None
        await gateway.aclose()
    result["spans_exported"] = {n: v[1].spans for n, v in variants.items() if v is not None}
    result["spans_dropped"] = {
        name: {
            sample.labels["reason"]: sample.value
            for metric in v[0].dropped.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        }
        for name, v in variants.items()
        if v is not None
    }
    for variant in variants.values():
        if variant is not None:
            variant[0].provider.shutdown()
    return result


_GATEWAYS: Final = {
    "off": {},
    "off again": {},
    "0%": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
    "1%": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
    "100%": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
}


class _Collector:
    """An OTLP/HTTP collector stand-in on a thread of this process: reads each export, 200."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                collector.bytes += len(self.rfile.read(length))
                collector.exports += 1
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _Collector:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _processes(calls: int, rounds: int, concurrency: tuple[int, ...]) -> dict[str, Any]:
    """The five `giru run` (`_GATEWAYS`) in paired rounds, per concurrency."""
    placed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, LOAD_CPUS)
    shm = Path("/dev/shm")
    with (
        tempfile.TemporaryDirectory(
            prefix="giru-bench-tracing-", dir=shm if shm.is_dir() else None
        ) as directory,
        _Collector() as collector,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(directory)
        upstream, upstream_url = start_upstream(workdir)
        stack.callback(upstream.stop)
        urls, pids = {}, {}
        for name, tracing in _GATEWAYS.items():
            env = {**tracing, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url} if tracing else {}
            giru, urls[name] = start_giru(workdir, name, client_manifest(upstream_url), env)
            stack.callback(giru.stop)
            pids[name] = giru.pid
        points = {}
        for each in concurrency:
            compared = uvloop.run(
                compare_processes(urls, pids, calls=calls, rounds=rounds, concurrency=each)
            )
            print(f"  giru run, c={each}\n{describe(compared)}", file=sys.stderr)
            points[f"c={each}"] = {"concurrency": each, **compared}
        os.sched_setaffinity(0, placed)
        points["otlp_exports_received"] = {"requests": collector.exports, "bytes": collector.bytes}
    return points


def _unsampled_decision_us(calls: int, rounds: int) -> dict[str, float]:
    """CPU µs to decide that a request is not sampled (0 %), a new trace and a client's
    unsampled one: Giru's check (`Tracing.decide`, all such a request costs before it goes on
    without a span) and, for comparison, the SDK sampler's `should_sample` on the same input."""
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    tracing = Tracing(OtelSettings(), CollectorRegistry(), exporter=_EncodingExporter(), env=env)
    sampler = tracing.provider.sampler
    parent = remote_context(f"00-{'ab' * 16}-{'cd' * 8}-00", None, None)
    name = "tools/call up__echo"

    def sdk(context: SpanContext | None) -> None:
        outer = set_span_in_context(NonRecordingSpan(context)) if context is not None else None
        trace_id = context.trace_id if context is not None else random.getrandbits(128)
        sampler.should_sample(outer, trace_id, name, SpanKind.SERVER)

    turns: dict[str, list[float]] = {}
    for _ in range(rounds):
        for label, decide, context in (
            ("giru new trace", tracing.decide, None),
            ("sdk new trace", sdk, None),
            ("giru client's trace", tracing.decide, parent),
            ("sdk client's trace", sdk, parent),
        ):
            before = time.process_time()
            for _ in range(calls):
                decide(context)
            turns.setdefault(label, []).append((time.process_time() - before) / calls * 1e6)
    tracing.provider.shutdown()
    return {label: round(statistics.median(values), 2) for label, values in turns.items()}


async def _profiled(sides: Sequence[Side], *, calls: int, rounds: int) -> dict[str, Any]:
    """Each side's block once more under cProfile: per function, the calls per tools/call and
    the profiled CPU µs per call (cProfile's own overhead included, so only the counts are
    exact)."""
    per_side: dict[str, dict[str, tuple[float, float]]] = {}
    for side in sides:
        profile = cProfile.Profile(time.process_time_ns, 1e-9)
        profile.enable()
        await side.block(calls)
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        per_side[side.name] = {
            _function(where): (counts[1] / calls, counts[2] / calls * 1e6)
            for where, counts in stats.items()
        }
    return {"sides": per_side}


def _function(where: tuple[str, int, str]) -> str:
    path, line, name = where
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        path = path.split(marker, 1)[-1]
    return f"{path}:{line}:{name}" if line else name


def _profile_markdown(date: str, sides: dict[str, dict[str, tuple[float, float]]]) -> str:
    """Per variant, the functions whose calls per tools/call differ from off."""
    off = sides["off"]
    lines = [
        f"# What an unsampled call does beyond tracing off — {date}",
        "",
        "`python -m bench.tracing --profile`: the in-process gateway (as in tracing.md), one "
        "block per variant under cProfile after a warm-up. Calls per tools/call beyond off are "
        "exact; profiled µs include cProfile's own cost per call and are only a guide.",
        "",
    ]
    for name, functions in sides.items():
        if name in ("off", "off again", "100%"):
            continue
        rows = []
        for function in functions.keys() | off.keys():
            count, own = functions.get(function, (0.0, 0.0))
            base_count, base_own = off.get(function, (0.0, 0.0))
            if abs(count - base_count) >= 0.005:
                rows.append((count - base_count, own - base_own, function))
        rows.sort(key=lambda row: (-abs(row[0]), row[2]))
        total = sum(abs(row[0]) for row in rows if abs(row[0]) >= 0.5)
        lines += [f"## {name}: {total:.0f} more function calls per tools/call", ""]
        lines += ["| function | calls per call beyond off | profiled own µs beyond off |"]
        lines += ["|---|---:|---:|"]
        lines += [f"| `{f}` | {c:+.2f} | {us:+.2f} |" for c, us, f in rows[:40]]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls per block, giru run")
    parser.add_argument("--rounds", type=int, default=40, help="paired rounds, giru run")
    parser.add_argument("--concurrency", type=int, action="append", help="default: 16")
    # in process: short blocks, many rounds (each round's sides see the same load; see README)
    parser.add_argument("--gateway-calls", type=int, default=200, help="in process")
    parser.add_argument("--gateway-rounds", type=int, default=300, help="in process")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only profile the in-process variants (writes profile.md; no timing)",
    )
    args = parser.parse_args(argv)
    if args.profile:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            configure_logging("json", "info")
            profiled = uvloop.run(_in_process(args.gateway_calls, 1, _profiled))
        args.out.mkdir(parents=True, exist_ok=True)
        page = _profile_markdown(time.strftime("%Y-%m-%d", time.gmtime()), profiled["sides"])
        (args.out / "profile.md").write_text(page)
        print(page)
        return
    machine = describe_machine(None)
    concurrency = tuple(args.concurrency or (16,))
    result: dict[str, Any] = {"giru_run": _processes(args.calls, args.rounds, concurrency)}
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        configure_logging("json", "info")  # the production log line, in process, to /dev/null
        in_process = uvloop.run(_in_process(args.gateway_calls, args.gateway_rounds))
    print(f"  in process\n{describe(in_process)}", file=sys.stderr)
    result["in_process"] = in_process
    result["unsampled_decision_us"] = _unsampled_decision_us(
        50 * args.gateway_calls, args.gateway_rounds // 4 or 1
    )
    result["machine"] = machine
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    (args.out / f"{stamp}-tracing.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "tracing.md").write_text(_markdown(stamp, result, args))
    print(json.dumps(result, indent=2))


def _markdown(date: str, result: dict[str, Any], args: argparse.Namespace) -> str:
    """The run's tables: the machine, each paired comparison, the unsampled span alone."""
    setup = {
        "giru run": "five processes started alike (policy off, SQLite and spools on tmpfs, one "
        "upstream, API key, 2026-07-28 tools/call) except for tracing: off, off again (A/A), "
        "parentbased_traceidratio 0 and 0.01, parentbased_always_on; OTLP http/protobuf to a "
        "stand-in collector in the bench process; CPU = each process's CPU clock",
        "rounds": f"giru run: {args.rounds} rounds x {args.calls} calls per process; in "
        f"process: {args.gateway_rounds} rounds x {args.gateway_calls} calls per variant "
        "(bench.pairs: shuffled per round, median of paired differences from off, 95 % "
        "bootstrap interval)",
        "in process": "one Gateway (ASGI, legacy-era tools/call, call gate without OPA, an "
        "upstream that answers at once), its tracing switched per block; this process's CPU "
        "clock (the export thread included)",
    }
    lines = [markdown(date, result["machine"], setup, {}, []).rstrip(), ""]
    runs = [v for v in result["giru_run"].values() if isinstance(v, dict) and "sides" in v]
    for each in runs:
        each.setdefault("where", "giru run")
    lines += ["## Tracing off, 0 %, 1 %, 100 % sampled: giru run", "", *paired(runs), ""]
    received = result["giru_run"].get("otlp_exports_received", {})
    lines += [f"OTLP exports received by the stand-in collector: {received}", ""]
    inside = {"where": "in process", **result["in_process"]}
    lines += ["## The same, in process", "", *paired([inside]), ""]
    lines += [f"Spans exported: {inside.get('spans_exported')}", ""]
    lines += ["## Deciding that a request is not sampled, alone (CPU µs)", ""]
    lines += [f"- {name}: {value}" for name, value in result["unsampled_decision_us"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
