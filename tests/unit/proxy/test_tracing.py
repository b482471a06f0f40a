"""Traces through the gateway: the client's context continued, one span tree per request, the
context carried to the upstream, the trace id in the records and the log line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from giru.limits import LocalLimiter
from giru.proxy.gate import CallGate
from giru.proxy.gateway import Gateway
from giru.settings import OtelSettings
from giru.telemetry.tracing import Tracing
from tests.unit.proxy.fakes import KEY, FakeUpstream, gateway_client, tool
from tests.unit.proxy.test_gate import Usage
from tests.unit.proxy.test_gateway import call, initialize, rpc

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
# Attribute keys a request span may carry; anything else would have come from somewhere else.
KNOWN = {
    "mcp.method.name",
    "mcp.protocol.version",
    "mcp.session.id",
    "jsonrpc.request.id",
    "gen_ai.tool.name",
    "gen_ai.operation.name",
    "gen_ai.prompt.name",
    "network.transport",
    "network.protocol.name",
    "http.response.status_code",
    "rpc.response.status_code",
    "error.type",
    "giru.endpoint",
    "giru.client",
    "giru.person",
    "giru.server",
    "giru.era",
    "giru.decision",
    "giru.outcome",
    "giru.event_id",
}


@asynccontextmanager
async def traced(
    upstream: FakeUpstream, *, trust: bool = True, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway, InMemorySpanExporter, Usage]]:
    exporter, usage = InMemorySpanExporter(), Usage()
    settings = OtelSettings(enabled=True, trust_client_context=trust)
    tracing = Tracing(settings, CollectorRegistry(), exporter=exporter, env=env or {})
    async with gateway_client({"one": upstream}) as (client, gateway):
        gateway.tracing = tracing
        gateway.dispatcher.gate = CallGate(LocalLimiter("UTC"), usage, node="unit")
        yield client, gateway, exporter, usage
    tracing.provider.shutdown()


def spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """The finished spans by name; the request span under "request"."""
    found = {span.name: span for span in exporter.get_finished_spans()}
    for span in exporter.get_finished_spans():
        if span.kind is SpanKind.SERVER and span.name.startswith("tools/call"):
            found["request"] = span
    return found


# An argument value no span may carry (distinct enough not to occur in a random id).
SECRET = "never-in-a-span"


async def tools_call(client: httpx.AsyncClient, params: dict[str, Any], **headers: str) -> Any:
    session = await initialize(client)
    body = rpc("tools/call", {"name": "one__echo", "arguments": {"secret": SECRET}, **params}, 9)
    response = await client.post(
        "/mcp",
        content=body,
        headers={
            "authorization": f"Bearer {KEY}",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-session-id": session,
            **headers,
        },
    )
    return response


async def test_a_call_continues_the_clients_trace_in_one_span_tree() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream) as (client, gateway, exporter, usage):
        session = await initialize(client)
        params = {
            "name": "one__echo",
            "arguments": {"secret": SECRET},
            "_meta": {"traceparent": TRACEPARENT},
        }
        response = await call(client, session, rpc("tools/call", params, 9))
        assert response.json()["result"]
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        found = spans(exporter)
    request = found["request"]
    assert request.name == "tools/call one__echo"
    assert f"{request.context.trace_id:032x}" == TRACE
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == PARENT
    children = {
        name: span
        for name, span in found.items()
        if span.parent is not None and span.parent.span_id == request.context.span_id
    }
    assert set(children) >= {
        "authenticate",
        "limits admission",
        "tools/call echo",
        "durable record",
    }
    upstream_span = children["tools/call echo"]
    assert upstream_span.kind is SpanKind.CLIENT
    assert upstream_span.attributes is not None
    assert upstream_span.attributes["network.transport"] == "pipe"
    attributes = dict(request.attributes or {})
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "one__echo"
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["jsonrpc.request.id"] == "9"
    assert attributes["giru.client"] == "alpha"
    assert attributes["giru.server"] == "one"
    assert attributes["giru.era"] == "legacy"
    assert attributes["giru.outcome"] == "ok"
    assert attributes["mcp.session.id"] == session
    assert attributes["giru.event_id"] == response.headers["giru-request-id"]
    assert SECRET not in repr([s.attributes for s in exporter.get_finished_spans()])
    sent = upstream.calls[-1][1]
    assert sent is not None
    meta_trace, meta_span = sent["_meta"]["traceparent"].split("-")[1:3]
    assert (meta_trace, meta_span) == (TRACE, f"{upstream_span.context.span_id:016x}")
    assert usage.records[-1]["trace_id"] == TRACE


async def test_an_http_header_traceparent_is_continued_too() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream) as (client, gateway, exporter, _):
        response = await tools_call(client, {}, traceparent=TRACEPARENT)
        assert response.status_code == 200
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        request = spans(exporter)["request"]
    assert f"{request.context.trace_id:032x}" == TRACE


async def test_a_malformed_or_oversized_traceparent_starts_a_new_trace_and_the_call_succeeds() -> (
    None
):
    upstream = FakeUpstream("one", [tool("echo")])
    oversized = TRACEPARENT + "-" + "x" * 10_000
    async with traced(upstream) as (client, gateway, exporter, _):
        with capture_logs() as logs:
            response = await tools_call(
                client,
                {"_meta": {"traceparent": oversized, "tracestate": "y" * 10_000}},
                traceparent="00-zz-not-a-trace",
            )
        assert response.status_code == 200
        assert response.json()["result"]
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        request = spans(exporter)["request"]
    assert request.parent is None
    assert f"{request.context.trace_id:032x}" != TRACE
    assert "x" * 100 not in repr(logs)


async def test_a_client_cannot_put_attributes_on_its_spans() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    meta = {
        "traceparent": TRACEPARENT,
        "baggage": "giru.client=mallory",
        "giru.client": "mallory",
        "attributes": {"giru.decision": "allow"},
    }
    async with traced(upstream) as (client, gateway, exporter, _):
        await tools_call(client, {"_meta": meta, "giru.client": "mallory"}, baggage="x=y")
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        request = spans(exporter)["request"]
    attributes = dict(request.attributes or {})
    assert set(attributes) <= KNOWN
    assert attributes["giru.client"] == "alpha"
    assert "mallory" not in repr(attributes)


async def test_an_untrusted_client_context_is_not_continued() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream, trust=False) as (client, gateway, exporter, _):
        await tools_call(client, {"_meta": {"traceparent": TRACEPARENT}})
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        request = spans(exporter)["request"]
    assert request.parent is None
    assert f"{request.context.trace_id:032x}" != TRACE


async def test_with_tracing_off_the_upstream_gets_the_params_untouched() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with gateway_client({"one": upstream}) as (client, _):
        response = await tools_call(client, {"_meta": {"traceparent": TRACEPARENT}})
        assert response.status_code == 200
    sent = upstream.calls[-1][1]
    assert sent is not None
    assert sent["_meta"] == {"traceparent": TRACEPARENT}
    assert upstream.headers[-1] == {}


async def test_the_request_log_line_names_the_event_trace_server_and_outcome() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream) as (client, _, _, _):
        with capture_logs() as logs:
            response = await tools_call(client, {"_meta": {"traceparent": TRACEPARENT}})
    line = next(e for e in logs if e["event"] == "mcp_request" and e["method"] == "tools/call")
    assert line["event_id"] == response.headers["giru-request-id"]
    assert line["trace_id"] == TRACE
    assert line["server"] == "one"
    assert line["tool"] == "echo"
    assert line["client"] == "alpha"
    assert line["endpoint"] == "/mcp"
    assert line["era"] == "legacy"
    assert line["outcome"] == "ok"
    assert line["status"] == 200
    assert line["decision"] is None
    assert isinstance(line["ms"], float)


async def test_an_unsampled_request_records_no_span_but_carries_its_trace_on() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    unsampled = f"00-{TRACE}-{PARENT}-00"
    async with traced(upstream) as (client, gateway, exporter, usage):
        with capture_logs() as logs:
            response = await tools_call(client, {"_meta": {"traceparent": unsampled}})
        assert response.status_code == 200
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        ours = [s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE]
        assert ours == []
    sent = upstream.calls[-1][1]
    assert sent is not None
    version, trace, span, flags = sent["_meta"]["traceparent"].split("-")
    assert (version, trace, flags) == ("00", TRACE, "00")
    assert span != PARENT
    assert usage.records[-1]["trace_id"] == TRACE
    line = next(e for e in logs if e["event"] == "mcp_request" and e["method"] == "tools/call")
    assert line["trace_id"] == TRACE


NOTHING_SAMPLED = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0",
}


async def test_a_new_trace_not_sampled_records_nothing_but_carries_the_logged_trace_id_on() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream, env=NOTHING_SAMPLED) as (client, gateway, exporter, usage):
        with capture_logs() as logs:
            response = await tools_call(client, {})
        assert response.status_code == 200
        gateway.tracing.provider.force_flush()  # type: ignore[union-attr]
        assert exporter.get_finished_spans() == ()
    sent = upstream.calls[-1][1]
    assert sent is not None
    version, trace, span, flags = sent["_meta"]["traceparent"].split("-")
    assert (version, len(trace), len(span), flags) == ("00", 32, 16, "00")
    assert upstream.headers[-1] == {"traceparent": sent["_meta"]["traceparent"]}
    assert usage.records[-1]["trace_id"] == trace
    line = next(e for e in logs if e["event"] == "mcp_request" and e["method"] == "tools/call")
    assert line["trace_id"] == trace


async def test_an_unsampled_clients_tracestate_goes_on_with_its_trace() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    unsampled = f"00-{TRACE}-{PARENT}-00"
    async with traced(upstream) as (client, _, _, _):
        meta = {"traceparent": unsampled, "tracestate": "vendor=abc"}
        response = await tools_call(client, {"_meta": meta})
        assert response.status_code == 200
    sent = upstream.calls[-1][1]
    assert sent is not None
    assert sent["_meta"]["traceparent"].startswith(f"00-{TRACE}-")
    assert sent["_meta"]["tracestate"] == "vendor=abc"


async def test_an_unsampled_context_in_the_headers_goes_on_beside_the_clients_own_meta() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    unsampled = f"00-{TRACE}-{PARENT}-00"
    async with traced(upstream) as (client, _, _, usage):
        with capture_logs() as logs:
            response = await tools_call(
                client,
                {"_meta": {"example.com/note": "kept"}},
                traceparent=unsampled,
                tracestate="vendor=abc",
            )
        assert response.status_code == 200
    sent = upstream.calls[-1][1]
    assert sent is not None
    meta = sent["_meta"]
    version, trace, span, flags = meta["traceparent"].split("-")
    assert (version, trace, flags) == ("00", TRACE, "00")
    assert span != PARENT
    assert meta["tracestate"] == "vendor=abc"
    assert meta["example.com/note"] == "kept"
    assert upstream.headers[-1] == {"traceparent": meta["traceparent"], "tracestate": "vendor=abc"}
    assert usage.records[-1]["trace_id"] == TRACE
    line = next(e for e in logs if e["event"] == "mcp_request" and e["method"] == "tools/call")
    assert line["trace_id"] == TRACE


async def test_a_sampler_only_the_sdk_knows_decides_when_the_request_span_starts() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    async with traced(upstream) as (client, gateway, exporter, _):
        assert gateway.tracing is not None
        gateway.tracing._decide = None  # as for a sampler named by an entry point
        response = await tools_call(client, {"_meta": {"traceparent": TRACEPARENT}})
        assert response.status_code == 200
        gateway.tracing.provider.force_flush()
        request = spans(exporter)["request"]
    assert f"{request.context.trace_id:032x}" == TRACE
    assert {"authenticate", "limits admission", "durable record"} <= set(spans(exporter))


def portraits(exported: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    """What each exported span says, with what differs from call to call (ids, times, the event
    id and session id) replaced by where it points: the parent by name, the times by order."""
    names = {span.context.span_id: span.name for span in exported}
    volatile = {"giru.event_id", "mcp.session.id"}
    found = []
    for span in exported:
        parent = span.parent
        assert span.start_time is not None
        assert span.end_time is not None
        found.append(
            (
                span.name,
                span.kind,
                names.get(parent.span_id, "remote") if parent is not None else None,
                parent.is_remote if parent is not None else None,
                sorted((k, v) for k, v in (span.attributes or {}).items() if k not in volatile),
                sorted(k for k in (span.attributes or {}) if k in volatile),
                (span.status.status_code, span.status.description),
                int(span.context.trace_flags),
                span.context.trace_state.to_header(),
                span.context.is_remote,
                dict(span.resource.attributes),
                span.instrumentation_scope,
                (span.dropped_attributes, span.dropped_events, span.dropped_links),
                (span.events, span.links),
                span.start_time <= span.end_time,
            )
        )
    return sorted(found, key=repr)


async def test_a_sampled_call_exports_the_same_spans_as_the_sdks_own_would() -> None:
    upstream = FakeUpstream("one", [tool("echo")])
    meta = {"traceparent": TRACEPARENT, "tracestate": "vendor=abc"}
    exported: dict[tuple[str, bool], tuple[ReadableSpan, ...]] = {}
    for sdk in (False, True):
        for continued in (False, True):
            async with traced(upstream) as (client, gateway, exporter, _):
                assert gateway.tracing is not None
                if sdk:
                    gateway.tracing._decide = None  # the SDK's sampler and spans decide
                response = await tools_call(client, {"_meta": meta} if continued else {})
                assert response.status_code == 200
                gateway.tracing.provider.force_flush()
                exported[("sdk" if sdk else "giru", continued)] = exporter.get_finished_spans()
    for continued in (False, True):
        ours, sdks = exported[("giru", continued)], exported[("sdk", continued)]
        assert portraits(ours) == portraits(sdks)
        assert len({span.context.span_id for span in ours}) == len(ours)
        request = next(span for span in ours if span.name == "tools/call one__echo")
        assert (request.context.trace_id == int(TRACE, 16)) is continued
        assert request.context.trace_state.to_header() == ("vendor=abc" if continued else "")
        assert int(request.context.trace_flags) == (0x01 if continued else 0x03)
    names = {span.name for span in exported[("giru", True)]}
    assert names >= {
        "tools/call one__echo",
        "authenticate",
        "limits admission",
        "durable record",
        "tools/call echo",
    }
