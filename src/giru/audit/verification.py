"""Verifying stored chains: the chain's records, read in (node, seq) order, through `Verifier`."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any

from giru.audit.chain import Verification, Verifier
from giru.store.audit import AuditEntry

__all__ = ["verification_body", "verify"]


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
