"""The tamper-evident audit log: one record per MCP request decision, durable in a local spool
before the gateway answers, chained per node (sha256) and stored append-only (see docs/audit.md).
"""

from giru.audit.chain import GENESIS, Head, Problem, Verification, Verifier, link, record_hash
from giru.audit.log import AuditLog, AuditStore
from giru.audit.metrics import AuditMetrics
from giru.audit.records import (
    AUDIT_CODEC,
    OUTCOMES,
    AuditRecord,
    AuditSpoolError,
    AuditSpoolFullError,
    ChainedRecord,
    Entry,
    Outcome,
)
from giru.audit.verification import (
    verification_body,
    verify,
    verify_periodically,
    verify_reported,
)

__all__ = [
    "AUDIT_CODEC",
    "GENESIS",
    "OUTCOMES",
    "AuditLog",
    "AuditMetrics",
    "AuditRecord",
    "AuditSpoolError",
    "AuditSpoolFullError",
    "AuditStore",
    "ChainedRecord",
    "Entry",
    "Head",
    "Outcome",
    "Problem",
    "Verification",
    "Verifier",
    "link",
    "record_hash",
    "verification_body",
    "verify",
    "verify_periodically",
    "verify_reported",
]
