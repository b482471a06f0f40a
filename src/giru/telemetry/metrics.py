"""Prometheus metrics, one registry per app instance (no module-level singletons)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric the gateway exports; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._request_children: dict[tuple[str, str, str, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self.requests = Counter(
            "giru_mcp_requests_total",
            "MCP requests by method, server, tool and outcome.",
            ["method", "server", "tool", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "giru_mcp_request_duration_seconds",
            "Time to answer an MCP request, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
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
        self.upstream_up = Gauge(
            "giru_upstream_up",
            "1 when the upstream server answered last time.",
            ["server"],
            registry=self.registry,
        )
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

    def observe_latency(self, method: str, seconds: float) -> None:
        child = self._latency_children.get(method)
        if child is None:
            child = self._latency_children[method] = self.latency.labels(method)
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside the event loop
        return 0.0
