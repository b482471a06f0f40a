"""Usage metering: one record per tools/call, durable in a local spool before the gateway
answers, drained in order into the store's `usage_records` table (see docs/api.md, "Usage")."""

from giru.metering.committer import Committer
from giru.metering.records import (
    ERROR_OUTCOMES,
    OUTCOMES,
    REJECTED_OUTCOMES,
    Outcome,
    UsageRecord,
    new_event_id,
)
from giru.metering.spool import Batch, Spool, SpoolError, SpoolFullError, SpoolLockedError
from giru.metering.writer import UsageMetrics, UsageSink, UsageWriter

__all__ = [
    "ERROR_OUTCOMES",
    "OUTCOMES",
    "REJECTED_OUTCOMES",
    "Batch",
    "Committer",
    "Outcome",
    "Spool",
    "SpoolError",
    "SpoolFullError",
    "SpoolLockedError",
    "UsageMetrics",
    "UsageRecord",
    "UsageSink",
    "UsageWriter",
    "new_event_id",
]
