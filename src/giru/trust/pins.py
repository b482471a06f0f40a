"""The recorded trust state in the store: pins, review entries, first surfaces seen.

`load` reads every server's state (each worker keeps it in memory); `record` writes a `Plan`'s
pins and review entries in the caller's write transaction. Recording is not a config change:
the revision is not bumped, each worker detects a server's drift itself on its next refresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from giru.store.database import Tx
from giru.store.models import MCPServerRow, ToolPinRow, ToolReviewRow, ToolSurfaceRow
from giru.trust.plans import Detection, Finding, Known, Offer, Plan, Review
from giru.trust.surface import MAX_DEFINITION_BYTES, surface_of

__all__ = ["MAX_HISTORY", "finding_body", "kept_definition", "load", "pin_row", "record"]

_R = TypeVar("_R", ToolPinRow, ToolReviewRow)
MAX_HISTORY: Final = 10
"""Offers kept in a review entry's history (hash and time), newest last."""


@dataclass(slots=True)
class _ServerState:
    baseline: bool = False
    pins: dict[str, str] | None = None
    reviews: dict[str, Review] | None = None


async def load(
    session: AsyncSession, tenant_id: str, *, server_id: str | None = None
) -> dict[str, Known]:
    """Every server's recorded state (or `server_id`'s alone), by server name."""
    states: dict[str, _ServerState] = {}
    servers = select(MCPServerRow.id, MCPServerRow.name).where(
        MCPServerRow.tenant_id == tenant_id,
        *([MCPServerRow.id == server_id] if server_id is not None else []),
    )
    names = dict((await session.execute(servers)).all())
    baselines = select(ToolSurfaceRow.server_id).where(
        ToolSurfaceRow.tenant_id == tenant_id,
        *([ToolSurfaceRow.server_id == server_id] if server_id is not None else []),
    )
    for found in await session.scalars(baselines):
        states.setdefault(names.get(found, ""), _ServerState()).baseline = True
    pins = select(ToolPinRow.server_id, ToolPinRow.tool, ToolPinRow.definition_hash).where(
        ToolPinRow.tenant_id == tenant_id,
        *([ToolPinRow.server_id == server_id] if server_id is not None else []),
    )
    for owner, tool, digest in (await session.execute(pins)).all():
        state = states.setdefault(names.get(owner, ""), _ServerState())
        if state.pins is None:
            state.pins = {}
        state.pins[tool] = digest
    reviews = select(
        ToolReviewRow.server_id,
        ToolReviewRow.tool,
        ToolReviewRow.state,
        ToolReviewRow.change,
        ToolReviewRow.definition_hash,
    ).where(
        ToolReviewRow.tenant_id == tenant_id,
        *([ToolReviewRow.server_id == server_id] if server_id is not None else []),
    )
    for owner, tool, state_name, change, digest in (await session.execute(reviews)).all():
        state = states.setdefault(names.get(owner, ""), _ServerState())
        if state.reviews is None:
            state.reviews = {}
        state.reviews[tool] = Review(state_name, change, digest)  # type: ignore[arg-type]
    states.pop("", None)
    return {name: Known(s.baseline, s.pins or {}, s.reviews or {}) for name, s in states.items()}


async def record(tx: Tx, server: MCPServerRow, plan: Plan, actor: str) -> None:
    """Write `plan`'s pins, review entries and first-surface mark."""
    if plan.baseline:
        existing = await tx.session.scalar(
            select(ToolSurfaceRow.id).where(ToolSurfaceRow.server_id == server.id)
        )
        if existing is None:
            tx.session.add(
                ToolSurfaceRow(
                    tenant_id=tx.tenant_id,
                    server_id=server.id,
                    first_seen_at=tx.now,
                    created_at=tx.now,
                    updated_at=tx.now,
                )
            )
    pins = await _rows(tx.session, ToolPinRow, server.id, [o.name for o in plan.pins])
    for offer in plan.pins:
        pin_row(tx, server, pins.get(offer.name), offer, actor)
    reviews = await _rows(tx.session, ToolReviewRow, server.id, [d.tool for d in plan.detections])
    for detection in plan.detections:
        _review_row(tx, server, reviews.get(detection.tool), detection)
    if plan.writes:
        tx.touched = True


def _review_row(
    tx: Tx, server: MCPServerRow, row: ToolReviewRow | None, detection: Detection
) -> None:
    if row is None:
        row = ToolReviewRow(
            tenant_id=tx.tenant_id,
            server_id=server.id,
            tool=detection.tool,
            first_detected_at=tx.now,
            created_at=tx.now,
            history=[],
            offers=0,
        )
        tx.session.add(row)
    found = detection.offer
    row.state, row.change = "pending", detection.change
    row.definition_hash = found.hash if found is not None else ""
    row.size = found.size if found is not None else 0
    row.definition = kept_definition(found)
    row.findings = [finding_body(f) for f in detection.findings]
    row.history = [*row.history, {"hash": row.definition_hash, "at": tx.now.isoformat()}][
        -MAX_HISTORY:
    ]
    row.offers += 1
    row.detected_at = row.updated_at = tx.now
    row.decided_by = row.decided_at = None


def pin_row(
    tx: Tx, server: MCPServerRow, row: ToolPinRow | None, offer: Offer, actor: str
) -> ToolPinRow:
    """Pin `offer` (in `row`, else a new row)."""
    if row is None:
        row = ToolPinRow(
            tenant_id=tx.tenant_id, server_id=server.id, tool=offer.name, created_at=tx.now
        )
        tx.session.add(row)
    row.definition_hash, row.size = offer.hash, offer.size
    row.definition = kept_definition(offer)
    row.approved_by, row.approved_at, row.updated_at = actor, tx.now, tx.now
    tx.touched = True
    return row


def kept_definition(offer: Offer | None) -> dict[str, Any] | None:
    """The surface the store keeps of `offer` (None: no tool, or larger than it keeps)."""
    if offer is None or offer.size > MAX_DEFINITION_BYTES:
        return None
    return surface_of(offer.definition)


def finding_body(finding: Finding) -> dict[str, str]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "reason": finding.reason[:500],
    }


async def _rows(
    session: AsyncSession, model: type[_R], server_id: str, tools: Sequence[str]
) -> Mapping[str, _R]:
    found: dict[str, _R] = {}
    wanted = sorted(set(tools))
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start : start + 500]
        query = select(model).where(model.server_id == server_id, model.tool.in_(chunk))
        found.update({row.tool: row for row in await session.scalars(query)})
    return found
