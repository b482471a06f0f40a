"""`python -m bench.tracing [--calls N] [--rounds R]`: what tracing costs per tools/call.

One Gateway in this process (uvloop) answers legacy-era tools/call over the ASGI interface, driven
directly (no HTTP client in the measurement), with an upstream that answers at once and the call
gate (limits admission and in-memory usage records, no OPA: its cost would hide a few µs). Four
variants take turns, `--rounds` times each, `--calls` calls per turn: tracing off; on with
`parentbased_traceidratio` 0 (nothing sampled: what every request pays), 0.01 (1 % of traces);
on with `parentbased_always_on` (100 %). Spans
go to an exporter that encodes each batch as OTLP protobuf and drops it (the export thread's CPU
counts: `time.process_time` is the whole process). Reported: CPU µs per call, the median turn of
each variant, the median of each round's difference from off (paired), and the load average;
and, alone, the CPU of starting a request span that is not
sampled (Giru's own check beside the SDK sampler's); printed and written as JSON, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from giru.access.clients import ClientDirectory
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
from giru.telemetry.traceparent import remote_parent
from giru.telemetry.tracing import Tracing
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec

KEY = "bench-key-0123456789"
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

    async def record(self, record: UsageRecord) -> None:
        return None


class _EncodingExporter(SpanExporter):
    """Encodes each batch as an OTLP request would carry it, then drops it."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def _connector(
    spec: ServerSpec,
    identity: ClientIdentity,
    *,
    on_unsolicited: MessageSink,
    http: aiohttp.ClientSession,
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


async def _measure(calls: int, rounds: int) -> dict[str, Any]:
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
        "0%": _tracing("parentbased_traceidratio", "0"),
        "1%": _tracing("parentbased_traceidratio", "0.01"),
    }
    variants["100%"] = _tracing("parentbased_always_on", "")
    results: dict[str, list[float]] = {name: [] for name in variants}
    async with aiohttp.ClientSession() as http:
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
        )
        for _ in range(calls):  # warm up
            await _post(gateway, call, headers)
        for _ in range(rounds):
            for name, variant in variants.items():
                gateway.tracing = variant[0] if variant is not None else None
                before = time.process_time()
                for _ in range(calls):
                    await _post(gateway, call, headers)
                if variant is not None:
                    variant[0].queue.force_flush()
                results[name].append((time.process_time() - before) / calls * 1e6)
        gateway.tracing = None
        await gateway.aclose()
    exported = {name: v[1].spans for name, v in variants.items() if v is not None}
    dropped = {
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
    median = {name: round(statistics.median(turns), 1) for name, turns in results.items()}
    return {
        "cpu_us_per_call": median,
        "added_cpu_us_per_call": {n: round(median[n] - median["off"], 1) for n in median},
        "paired_added_cpu_us_per_call": _paired(results),
        "turns_cpu_us_per_call": {n: [round(t, 1) for t in turns] for n, turns in results.items()},
        "spans_exported": exported,
        "spans_dropped": dropped,
        "calls_per_turn": calls,
        "rounds": rounds,
        "loadavg_after": os.getloadavg(),
    }


def _paired(results: dict[str, list[float]]) -> dict[str, float]:
    """Each variant's median difference from `off` in the same round (turns of one round run
    back to back, so a change of load between rounds cancels out)."""
    return {
        name: round(statistics.median(t - o for t, o in zip(turns, results["off"], strict=True)), 1)
        for name, turns in results.items()
    }


def _unsampled_span_us(calls: int, rounds: int) -> dict[str, float]:
    """CPU µs to start a request span that is not sampled (0 %), a new trace and a client's
    unsampled one, decided by Giru's check and, for comparison, by the SDK's sampler."""
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    giru = Tracing(OtelSettings(), CollectorRegistry(), exporter=_EncodingExporter(), env=env)
    sdk = Tracing(OtelSettings(), CollectorRegistry(), exporter=_EncodingExporter(), env=env)
    sdk._decide = None  # the SDK sampler decides, as before Giru had its own check
    parent = remote_parent(f"00-{'ab' * 16}-{'cd' * 8}-00", None, None)
    turns: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, tracing, parent_span in (
            ("giru new trace", giru, None),
            ("sdk new trace", sdk, None),
            ("giru client's trace", giru, parent),
            ("sdk client's trace", sdk, parent),
        ):
            before = time.process_time()
            for _ in range(calls):
                tracing.start_request("tools/call up__echo", parent_span, dict, 0)
            turns.setdefault(name, []).append((time.process_time() - before) / calls * 1e6)
    for tracing in (giru, sdk):
        tracing.provider.shutdown()
    return {name: round(statistics.median(values), 2) for name, values in turns.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    configure_logging("json", "info")  # the production log line (run with 2>/dev/null)
    loadavg_before = os.getloadavg()
    result = uvloop.run(_measure(args.calls, args.rounds))
    result["unsampled_request_span_us"] = _unsampled_span_us(50 * args.calls, args.rounds)
    result["loadavg_before"] = loadavg_before
    result["cpus"] = os.cpu_count()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    (args.out / f"{stamp}-tracing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
