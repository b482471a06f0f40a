"""Verifying stored chains: the chain's records, read in (node, seq) order, through `Verifier`;
and the periodic verification whose result the metrics show (`giru_audit_chain_ok`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable
from typing import Any

import structlog

from giru.audit.chain import Verification, Verifier
from giru.audit.metrics import AuditMetrics
from giru.errors import GiruError
from giru.store.audit import AuditEntry

__all__ = ["verification_body", "verify", "verify_periodically", "verify_reported"]

_log = structlog.get_logger(__name__)
_FIRST_AFTER_S = 60.0


async def verify(
    entries: AsyncIterable[AuditEntry], advance: Callable[[], None] | None = None
) -> Verification:
    """Check every chain in `entries` (e.g. `Store.audit_chain()`); `advance` after each record
    (a progress bar)."""
    verifier = Verifier()
    async for entry in entries:
        verifier.feed(entry.fields())
        if advance is not None:
            advance()
    return verifier.result()


def verification_body(result: Verification) -> dict[str, Any]:
    """The result as JSON (what `GET /api/v1/audit/verify` and `giru audit verify -o json` say)."""
    return {
        "ok": result.ok,
        "records": result.records,
        "nodes": result.nodes,
        "heads": [
            {"node": node, "seq": head.seq, "hash": head.hash}
            for node, head in sorted(result.heads.items())
        ],
        "problems": [
            {
                "node": problem.node,
                "seq": problem.seq,
                "eventId": problem.event_id,
                "kind": problem.kind,
                "message": problem.message,
            }
            for problem in result.problems
        ],
    }


async def verify_reported(
    chains: Callable[[], AsyncIterable[AuditEntry]], metrics: AuditMetrics
) -> Verification | None:
    """Verify every chain once and set the metrics; None when the store did not answer."""
    try:
        result = await verify(chains())
    except GiruError as exc:
        metrics.chain_verifications.labels("error").inc()
        _log.warning("audit_verification_failed", error=exc.message)
        return None
    metrics.chain_verified_at.set(time.time())
    metrics.chain_ok.set(1 if result.ok else 0)
    metrics.chain_verifications.labels("ok" if result.ok else "broken").inc()
    if not result.ok:
        _log.error(
            "audit_chain_broken",
            problems=[(p.node, p.seq, p.kind) for p in result.problems[:10]],
        )
    return result


async def verify_periodically(
    chains: Callable[[], AsyncIterable[AuditEntry]], metrics: AuditMetrics, interval_s: float
) -> None:
    """`verify_reported` every `interval_s` seconds, the first time a minute after start."""
    await asyncio.sleep(min(_FIRST_AFTER_S, interval_s))
    while True:
        await verify_reported(chains, metrics)
        await asyncio.sleep(interval_s)
