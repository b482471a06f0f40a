"""Prometheus metrics, one registry per app instance (no module-level singletons).

Names follow the OpenTelemetry semantic conventions where one exists, translated to Prometheus
(dots become underscores, the unit becomes a suffix): `mcp.server.operation.duration` is
`mcp_server_operation_duration_seconds` with `mcp_method_name` and `error_type` labels. Every
label takes values from a fixed set or from configuration, never from a client: what a client
made up counts as `other` (see `BoundedLabel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["OTHER", "BoundedLabel", "Metrics", "UpstreamStatus", "error_type"]

LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
OTHER: Final = "_OTHER"
"""The label value of anything outside a label's known set (the OpenTelemetry fallback)."""
_KNOWN_CODES: Final = frozenset(
    {-32700, -32600, -32601, -32602, -32603, -32002, -32042, -31403, -31429, -31430, -31503}
)
"""JSON-RPC error codes that are their own `error_type`: the spec's and Giru's."""


def error_type(response: dict[str, Any]) -> str:
    """The `error_type` label of an MCP answer: "" for success, `tool_error` for a tool's own
    error result, else the JSON-RPC error code (known codes only; `_OTHER` for the rest, which
    an upstream may invent)."""
    error = response.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        return str(code) if code in _KNOWN_CODES else OTHER
    result = response.get("result")
    return "tool_error" if isinstance(result, dict) and result.get("isError") else ""


class BoundedLabel:
    """A label whose values come from code the operator controls (policy packs) but cannot be
    proven finite: the first `limit` distinct values are kept, later ones count as `_OTHER`,
    each value cut to 64 characters."""

    def __init__(self, limit: int = 200) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        value = value[:64]
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class UpstreamStatus(Collector):
    """`giru_upstream_up` and `giru_upstream_circuit_open`, computed at scrape time.

    Up is 1 only while the upstream answered its last connect or health ping *and* its circuit
    is closed: an open breaker means calls are refused, so the upstream is not serving whatever
    its pings say."""

    def __init__(self) -> None:
        self._reachable: dict[str, bool] = {}
        self._circuits: Callable[[str], bool] = lambda server: False

    def reachable(self, server: str, answered: bool) -> None:
        """The outcome of the last connect or health ping of `server`."""
        self._reachable[server] = answered

    def watch_circuits(self, is_open: Callable[[str], bool]) -> None:
        """Where the breaker state comes from (the dispatcher's breakers)."""
        self._circuits = is_open

    def forget(self, servers: Iterable[str]) -> None:
        """Drop the series of servers no longer configured."""
        for server in servers:
            self._reachable.pop(server, None)

    def up(self, server: str) -> bool:
        return self._reachable.get(server, False) and not self._circuits(server)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "giru_upstream_up",
            "1 while the upstream answered its last connect or health ping and its circuit "
            "breaker is closed; 0 otherwise.",
            labels=["server"],
        )
        circuit = GaugeMetricFamily(
            "giru_upstream_circuit_open",
            "1 while the upstream's circuit breaker is open (its calls are refused at once).",
            labels=["server"],
        )
        for server in sorted(self._reachable):
            up.add_metric([server], 1.0 if self.up(server) else 0.0)
            circuit.add_metric([server], 1.0 if self._circuits(server) else 0.0)
        yield up
        yield circuit

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()


class Metrics:
    """Every metric the gateway exports; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._request_children: dict[tuple[str, str, str, str], Any] = {}
        self._server_children: dict[tuple[str, str], Any] = {}
        self._client_children: dict[tuple[str, str, str], Any] = {}
        self.requests = Counter(
            "giru_mcp_requests_total",
            "MCP requests by method, server, tool and outcome.",
            ["method", "server", "tool", "outcome"],
            registry=self.registry,
        )
        self.server_duration = Histogram(
            "mcp_server_operation_duration_seconds",
            "MCP request duration as observed by Giru from receipt until the answer "
            "(OpenTelemetry mcp.server.operation.duration).",
            ["mcp_method_name", "error_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.client_duration = Histogram(
            "mcp_client_operation_duration_seconds",
            "MCP request duration to an upstream server as observed by Giru from sending until "
            "the answer (OpenTelemetry mcp.client.operation.duration); giru_server: the upstream.",
            ["mcp_method_name", "giru_server", "error_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter(
            "giru_http_rejections_total",
            "Requests rejected before dispatch, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "giru_http_requests_total",
            "HTTP requests that reached this gateway worker (those refused at the edge never do); "
            "kind: ops (/healthz, /readyz, /metrics) or mcp (everything else).",
            ["kind"],
            registry=self.registry,
        )
        self.sessions_taken_over = Counter(
            "giru_sessions_taken_over_total",
            "Legacy sessions this worker took over from their handoff record (their worker died).",
            registry=self.registry,
        )
        self.slow_verifications = Counter(
            "giru_auth_slow_verifications_total",
            "argon2id key verifications run (cache misses); an unknown key should cost none.",
            registry=self.registry,
        )
        self.edge_checks = Counter(
            "giru_edge_authz_checks_total",
            "Envoy ext_authz checks answered, by outcome (allowed, denied, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.sessions = Gauge(
            "giru_sessions", "Open client sessions by era.", ["era"], registry=self.registry
        )
        self.upstreams = UpstreamStatus()
        self.registry.register(self.upstreams)
        self.inflight = Gauge(
            "giru_inflight_requests", "MCP requests being processed.", registry=self.registry
        )
        self.tasks = Gauge(
            "giru_asyncio_tasks",
            "Tasks alive on the event loop (a leak shows as growth after faults).",
            registry=self.registry,
        )
        self.tasks.set_function(_task_count)

    def count_request(self, method: str, server: str, tool: str, outcome: str) -> None:
        """`requests` + 1, with the labelled child cached (labels() costs µs per call)."""
        key = (method, server, tool, outcome)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(*key)
        child.inc()

    def observe_server(self, method: str, error: str, seconds: float) -> None:
        """One answered MCP request (`method` from a fixed set, `error` from `error_type`)."""
        key = (method, error)
        child = self._server_children.get(key)
        if child is None:
            child = self._server_children[key] = self.server_duration.labels(*key)
        child.observe(seconds)

    def observe_client(self, method: str, server: str, error: str, seconds: float) -> None:
        """One request to upstream `server` (a configured name)."""
        key = (method, server, error)
        child = self._client_children.get(key)
        if child is None:
            child = self._client_children[key] = self.client_duration.labels(*key)
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside the event loop
        return 0.0
