"""Prometheus metrics of the audit log: its spool and drain (`DrainMetrics`), refusals, and
the result of the periodic chain verification."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

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
        self.chain_ok = Gauge(
            "giru_audit_chain_ok",
            "0 once a verification of the audit hash chains found a broken, reordered or "
            "missing record (see GET /api/v1/audit/verify); 1 before that and after a clean one.",
            registry=registry,
        )
        self.chain_verified_at = Gauge(
            "giru_audit_chain_last_verification_timestamp_seconds",
            "When the audit chains were last verified (epoch seconds; 0: not yet).",
            registry=registry,
        )
        self.chain_verifications = Counter(
            "giru_audit_chain_verifications_total",
            "Verifications of the audit hash chains, by result: ok, broken, error (no answer "
            "from the store).",
            ["result"],
            registry=registry,
        )
        self.chain_ok.set(1)
        for result in ("ok", "broken", "error"):
            self.chain_verifications.labels(result)
