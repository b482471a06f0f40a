"""One trace through a running Giru into Jaeger: a call with a `traceparent`, read back from
Jaeger's query API as a span tree (request → decision → upstream) with the MCP attributes, the
upstream sent the same trace id (HTTP header and `_meta`), and the usage record names it; and
through the whole stack (`make stack`'s topology), one trace from Envoy's span through the
worker's request span to the upstream span, Envoy's tracer configured over xDS.

Jaeger v1.75.0 (`make peers`, `.tools/bin/jaeger`) runs with its in-memory store and OTLP over
HTTP and gRPC on free loopback ports; Giru exports to it over each protocol in turn."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.calls import tool_call
from tests.integration.credentials.calls import BASE, LEGACY, HeadersUpstream, headers_upstream
from tests.integration.gateway import (
    CLIENT,
    KEY,
    http_server,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.peers import TOOLS, free_port, require_tools, start_peer, wait_for_port
from tests.stack import running_stack

JAEGER = TOOLS.bin / "jaeger"
_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass(frozen=True)
class Jaeger:
    query: str
    otlp_http: str
    otlp_grpc: str

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        response = httpx.get(f"{self.query}/api/traces/{trace_id}", timeout=5)
        if response.status_code != 200:
            return None
        data = response.json().get("data") or []
        return data[0] if data else None


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    require_tools(JAEGER)
    workdir = tmp_path_factory.mktemp("jaeger")
    ports = {name: free_port() for name in ("query", "query_grpc", "grpc", "http")}
    config = workdir / "jaeger.yaml"
    config.write_text(_CONFIG.format(**ports))
    peer = start_peer("jaeger", [str(JAEGER), "--config", str(config)], workdir)
    try:
        for port in ports.values():
            wait_for_port(peer, port, timeout=60)
        yield Jaeger(
            f"http://127.0.0.1:{ports['query']}",
            f"http://127.0.0.1:{ports['http']}",
            f"http://127.0.0.1:{ports['grpc']}",
        )
    finally:
        peer.stop()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadersUpstream]:
    with headers_upstream(tmp_path_factory.mktemp("upstream")) as running:
        yield running


def _call(base: str, trace_id: str, parent: str) -> httpx.Response:
    traceparent = f"00-{trace_id}-{parent}-01"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t"}},
    }
    opened = httpx.post(f"{base}/mcp", json=init, headers=BASE, timeout=30)
    headers = {**BASE, "mcp-session-id": opened.headers["mcp-session-id"]}
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(f"{base}/mcp", json=notice, headers=headers, timeout=30)
    params = {"name": "up__meta", "arguments": {}, "_meta": {"traceparent": traceparent}}
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
    return httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def _parent(span: dict[str, Any]) -> str | None:
    refs = [r for r in span.get("references", []) if r.get("refType") == "CHILD_OF"]
    return refs[0]["spanID"] if refs else None


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_call_is_one_trace_from_the_client_through_giru_to_the_upstream(
    jaeger: Jaeger, upstream: HeadersUpstream, protocol: str, tmp_path: Path
) -> None:
    endpoint = jaeger.otlp_http if protocol == "http/protobuf" else jaeger.otlp_grpc
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "giru-e2e",
        "GIRU_POLICY__ENABLED": "true",
    }
    manifests = "---".join([http_server("up", "streamable-http", upstream.url), CLIENT])
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with run_giru(manifests, tmp_path, extra_env=env) as giru:
        response = _call(giru.base, trace_id, parent)
        assert response.status_code == 200, response.text
        answer = response.json() if "json" in response.headers["content-type"] else None
        found: dict[str, Any] = {}

        def stored() -> bool:
            trace = jaeger.trace(trace_id)
            names = {s["operationName"] for s in (trace or {}).get("spans", [])}
            if trace is not None and {"tools/call up__meta", "tools/call meta"} <= names:
                found.update(trace)
                return True
            return False

        wait_until(stored, "the trace is in Jaeger", timeout=30)
        log = giru.log.read_text()
    spans = {s["operationName"]: s for s in found["spans"]}
    request, decision = spans["tools/call up__meta"], spans["policy decision"]
    client_span = spans["tools/call meta"]
    assert _parent(request) == parent
    assert _parent(decision) == request["spanID"]
    assert _parent(client_span) == request["spanID"]
    assert {"authenticate", "durable record"} <= set(spans)
    tags = _tags(request)
    assert tags["span.kind"] == "server"
    assert tags["mcp.method.name"] == "tools/call"
    assert tags["gen_ai.tool.name"] == "up__meta"
    assert tags["gen_ai.operation.name"] == "execute_tool"
    assert tags["mcp.protocol.version"] == LEGACY
    assert tags["jsonrpc.request.id"] == "2"
    assert tags["giru.client"] == "e2e"
    assert tags["giru.server"] == "up"
    assert tags["giru.decision"] == _tags(decision)["giru.decision"] == "allow"
    assert tags["giru.event_id"] == response.headers["giru-request-id"]
    assert "mcp.session.id" in tags
    upstream_tags = _tags(client_span)
    assert upstream_tags["span.kind"] == "client"
    assert upstream_tags["server.address"] == "127.0.0.1"
    process = found["processes"][request["processID"]]
    assert process["serviceName"] == "giru-e2e"
    sent_meta = json.loads(_text(answer, response))
    assert sent_meta["traceparent"] == f"00-{trace_id}-{client_span['spanID']}-01"
    headers = [h for h in upstream.seen() if h.get("traceparent", "").split("-")[1:2] == [trace_id]]
    assert headers
    assert headers[-1]["traceparent"] == sent_meta["traceparent"]
    line = next(
        json.loads(text)
        for text in log.splitlines()
        if '"mcp_request"' in text and '"tools/call"' in text
    )
    assert line["trace_id"] == trace_id
    assert line["event_id"] == response.headers["giru-request-id"]
    assert line["server"] == "up"
    assert line["decision"] == "allow"


def _text(answer: dict[str, Any] | None, response: httpx.Response) -> str:
    if answer is None:  # an SSE answer: its last data line
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        answer = json.loads(data[-1])
    text = answer["result"]["content"][0]["text"]
    assert isinstance(text, str)
    return text


def test_a_collector_that_is_down_costs_the_call_nothing_and_the_loss_is_counted(
    upstream: HeadersUpstream, tmp_path: Path
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    manifests = "---".join([http_server("up", "streamable-http", upstream.url), CLIENT])
    with run_giru(manifests, tmp_path, extra_env=env) as giru:
        for _ in range(3):
            response = _call(giru.base, secrets.token_hex(16), secrets.token_hex(8))
            assert response.status_code == 200, response.text

        def counted() -> bool:
            metrics = httpx.get(giru.url("/metrics"), timeout=5).text
            return 'giru_trace_spans_dropped_total{reason="export_failed"}' in metrics

        wait_until(counted, "spans the collector never got are counted", timeout=30)


@pytest.mark.timeout(400)  # the stack starts first
def test_a_call_through_envoy_is_one_trace_from_the_edge_through_the_worker_to_the_upstream(
    jaeger: Jaeger, tmp_path: Path
) -> None:
    env = {
        "GIRU_E2E_KEY": KEY,
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "giru-stack",
    }
    manifests = "---".join([python_stdio_server("kit"), CLIENT])
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with running_stack(tmp_path / "stack", manifests, workers=1, env=env) as stack:
        body, headers = tool_call(KEY, "kit__echo", {"text": "traced"}, 1)
        headers["traceparent"] = f"00-{trace_id}-{parent}-01"
        response = httpx.post(stack.url("/mcp"), content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = {}

        def stored() -> bool:
            trace = jaeger.trace(trace_id) or {}
            services = {k: p["serviceName"] for k, p in trace.get("processes", {}).items()}
            names = {(services[s["processID"]], s["operationName"]) for s in trace.get("spans", [])}
            # the upstream call's span ends (and may be exported) before the request's
            wanted = {
                ("giru-stack-edge", "ingress"),
                ("giru-stack", "tools/call kit__echo"),
                ("giru-stack", "tools/call echo"),
            }
            if wanted <= names:
                found.update(trace)
                return True
            return False

        wait_until(stored, "the edge's and the worker's spans are in Jaeger", timeout=60)
    service = {key: p["serviceName"] for key, p in found["processes"].items()}
    spans = {(service[s["processID"]], s["operationName"]): s for s in found["spans"]}
    edge = spans["giru-stack-edge", "ingress"]
    request = spans["giru-stack", "tools/call kit__echo"]
    upstream = spans["giru-stack", "tools/call echo"]
    assert _parent(edge) == parent
    assert _tags(edge)["span.kind"] == "server"
    assert _parent(request) == edge["spanID"]
    assert _parent(upstream) == request["spanID"]
    assert _tags(request)["giru.server"] == "kit"
