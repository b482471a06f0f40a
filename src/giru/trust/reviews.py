"""Review entries as administrators see them (with a diff against the approved definition),
and their decisions: approve (pin the offered definition) or reject (keep the pin; the offer
stays held until the server offers something else).

Every decision bumps the config revision, so every worker rereads the trust state and serves
(or keeps holding) the tools at once; each decided tool is an audit record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import delete, select

from giru.audit.records import AuditRecord
from giru.errors import ConflictError, NotFoundError, PreconditionFailedError
from giru.store.catalog import server_row
from giru.store.database import Database, Tx
from giru.store.models import MCPServerRow, ToolPinRow, ToolReviewRow
from giru.trust.pins import pin_row
from giru.trust.plans import Offer
from giru.trust.surface import changes, text_diff
from giru.trust.trail import TrustTrail

__all__ = ["Decided", "Verdict", "decide", "review_items"]

Verdict = Literal["approve", "reject"]
_TEXT_FIELDS: Final = ("description", "title")


@dataclass(frozen=True, slots=True)
class Decided:
    """One tool decided: its change and the hash now pinned (approve) or refused (reject)."""

    server: str
    tool: str
    change: str
    definition_hash: str
    blocking: bool


async def review_items(
    database: Database,
    tenant_id: str,
    *,
    server: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    """Review entries (of `server`, in `state`), ordered by server and tool, each with its diff
    against the approved definition."""
    async with database.read() as session:
        query = (
            select(ToolReviewRow, MCPServerRow.name, ToolPinRow)
            .join(MCPServerRow, MCPServerRow.id == ToolReviewRow.server_id)
            .outerjoin(
                ToolPinRow,
                (ToolPinRow.server_id == ToolReviewRow.server_id)
                & (ToolPinRow.tool == ToolReviewRow.tool),
            )
            .where(ToolReviewRow.tenant_id == tenant_id)
            .order_by(MCPServerRow.name, ToolReviewRow.tool)
        )
        if server is not None:
            query = query.where(MCPServerRow.name == server)
        if state is not None:
            query = query.where(ToolReviewRow.state == state)
        rows = (await session.execute(query)).all()
    return [_item(review, name, pin) for review, name, pin in rows]


async def decide(
    database: Database,
    tenant_id: str,
    server: str,
    tools: Sequence[str],
    *,
    verdict: Verdict,
    actor: str,
    expect: Mapping[str, str] | None = None,
    force: bool = False,
    trail: TrustTrail | None = None,
) -> list[Decided]:
    """Approve or reject `server`'s review entries for `tools` (none: every pending one); each
    decided tool is audited before the decision commits (no decision without its record).

    Raises:
        NotFoundError: no such server, or a named tool has no review entry.
        PreconditionFailedError: `expect` names a hash that is not the one under review.
        ConflictError: (`blocking_finding`) approving a change with a high-severity finding
            without `force`.
    """
    async with database.write(tenant_id, actor=actor) as tx:
        row = await server_row(tx.session, tenant_id, server)
        reviews = await _targets(tx, row, tools)
        _check(server, reviews, verdict, expect or {}, force)
        decided = [_decided(server, r) for r in reviews]
        for review in reviews:
            if verdict == "approve":
                await _approve(tx, row, review, actor)
            else:
                review.state, review.decided_by, review.decided_at = "rejected", actor, tx.now
                review.updated_at = tx.now
        if decided:
            detail = {"tools": [d.tool for d in decided][:100], "count": len(decided)}
            tx.record(f"tools-{verdict}d", "MCPServer", server, row.version, detail)
            if trail is not None:
                await trail.write([_audit(trail, d, verdict, actor) for d in decided])
    return decided


def _audit(trail: TrustTrail, decided: Decided, verdict: Verdict, actor: str) -> AuditRecord:
    details = {
        "change": decided.change,
        "definitionHash": decided.definition_hash or None,
        "blocking": decided.blocking,
    }
    return trail.entry(
        f"{verdict}d",
        server=decided.server,
        tool=decided.tool,
        outcome="allowed" if verdict == "approve" else "rejected",
        actor=actor,
        details=details,
    )


async def _targets(tx: Tx, server: MCPServerRow, tools: Sequence[str]) -> list[ToolReviewRow]:
    query = select(ToolReviewRow).where(ToolReviewRow.server_id == server.id)
    if tools:
        query = query.where(ToolReviewRow.tool.in_(sorted(set(tools))))
    else:
        query = query.where(ToolReviewRow.state == "pending")
    found = list(await tx.session.scalars(query.order_by(ToolReviewRow.tool)))
    missing = sorted(set(tools) - {r.tool for r in found})
    if missing:
        raise NotFoundError(
            f"MCPServer/{server.name} has no change under review for {', '.join(missing[:20])}",
            data={"kind": "MCPServer", "name": server.name, "tools": missing[:100]},
        )
    return found


def _check(
    server: str,
    reviews: Sequence[ToolReviewRow],
    verdict: Verdict,
    expect: Mapping[str, str],
    force: bool,
) -> None:
    stale = [r.tool for r in reviews if r.tool in expect and expect[r.tool] != r.definition_hash]
    if stale:
        raise PreconditionFailedError(
            f"the change under review for {', '.join(stale[:20])} of {server} is no longer the "
            "one expected (the server offered another since): review it again",
            data={"tools": stale[:100]},
        )
    blocking = [r.tool for r in reviews if _blocking(r)]
    if verdict == "approve" and blocking and not force:
        raise ConflictError(
            f"{', '.join(blocking[:20])} of {server}: a high-severity finding blocks approval; "
            "approve with force to override",
            code="blocking_finding",
            data={"tools": blocking[:100]},
        )


async def _approve(tx: Tx, server: MCPServerRow, review: ToolReviewRow, actor: str) -> None:
    pinned = await tx.session.scalar(
        select(ToolPinRow).where(ToolPinRow.server_id == server.id, ToolPinRow.tool == review.tool)
    )
    if review.change == "removed":
        if pinned is not None:
            await tx.session.delete(pinned)
    else:
        offer = Offer(review.tool, review.definition_hash, review.size, review.definition or {})
        row = pin_row(tx, server, pinned, offer, actor)
        row.definition = review.definition  # None when it was too large to keep
    await tx.session.execute(delete(ToolReviewRow).where(ToolReviewRow.id == review.id))


def _blocking(review: ToolReviewRow) -> bool:
    return any(f.get("severity") == "high" for f in review.findings if isinstance(f, dict))


def _decided(server: str, review: ToolReviewRow) -> Decided:
    return Decided(server, review.tool, review.change, review.definition_hash, _blocking(review))


def _item(review: ToolReviewRow, server: str, pin: ToolPinRow | None) -> dict[str, Any]:
    before = pin.definition if pin is not None else None
    after = review.definition
    comparable = (pin is None or before is not None) and (
        review.change == "removed" or after is not None
    )
    found, total = changes(before, after) if comparable else ([], 0)
    texts = {
        field: text_diff(_text(before, field), _text(after, field), f"{server}/{review.tool}")
        for field in _TEXT_FIELDS
    }
    return {
        "server": server,
        "tool": review.tool,
        "change": review.change,
        "state": review.state,
        "definitionHash": review.definition_hash or None,
        "approvedHash": pin.definition_hash if pin is not None else None,
        "size": review.size,
        "definition": after,
        "diff": found,
        "diffTotal": total,
        "diffAvailable": comparable,
        "textDiff": {k: v for k, v in texts.items() if v},
        "findings": list(review.findings),
        "blocking": _blocking(review),
        "offers": review.offers,
        "history": list(review.history),
        "firstDetectedAt": _iso(review.first_detected_at),
        "detectedAt": _iso(review.detected_at),
        "decidedBy": review.decided_by,
        "decidedAt": _iso(review.decided_at),
    }


def _text(definition: Mapping[str, Any] | None, field: str) -> str | None:
    value = (definition or {}).get(field)
    return value if isinstance(value, str) else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
