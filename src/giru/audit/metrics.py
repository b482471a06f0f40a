"""Prometheus metrics of the audit log."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from giru.metering.drain import DrainMetrics

__all__ = ["AuditMetrics"]


class AuditMetrics(DrainMetrics):
    """The audit log's metrics, registered in `registry` (a fresh one when None)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        super().__init__(registry, "audit", failures="store_failures")
        self.store_failures = self.failures
        self.refused = Counter(
            "giru_audit_refused_total",
            "Audit records the spool could not take (full or failing): their calls got 503.",
            registry=registry,
        )
