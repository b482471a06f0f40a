"""The audit log: `GET /api/v1/audit` (records, filtered and paged), `GET /api/v1/audit/verify`,
`GET /api/v1/audit/{eventId}/input` (a record's decision input, rebuilt as policy replay does)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.api.schemas import NextCursor
from giru.audit import verification_body, verify
from giru.errors import NotFoundError, ValidationError
from giru.policy.shapes import replayed_input
from giru.store import AuditEntry, AuditOrder, AuditQuery

__all__ = ["AuditInput", "AuditItem", "AuditList", "AuditVerification", "audit_item", "router"]

_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
_TARGET_PATTERN = r"^[^\x00-\x1f\x7f]{1,2048}$"
_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_TIME = "RFC 3339 (`2026-03-15T08:00:00Z`) or a date; without an offset: UTC"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_Text = Annotated[str | None, Query(pattern=_TEXT_PATTERN, max_length=200)]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class AuditItem(_Out):
    event_id: str = Field(description="the request id (UUIDv7); unique")
    at: datetime = Field(description="when the request arrived (UTC)")
    node: str = Field(description="the gateway worker that handled it; one chain per node")
    seq: int = Field(description="position in the node's chain, from 1, without gaps")
    actor: str = Field(description="client name, `anonymous` or `unauthenticated`")
    action: str = Field(description="`tools/call`, `tools/list`, `prompts/get`, ...")
    server: str | None
    target: str | None = Field(description="tool, prompt name or resource URI")
    outcome: str = Field(description="`allowed`, `policy_denied`, `policy_unavailable`, ...")
    reasons: list[Any] = Field(description="deny reasons or the error, as clients saw them")
    policy_revision: str | None
    source_ip: str | None
    details: dict[str, Any]
    prev_hash: str = Field(description="the previous record's hash (64 zeros for seq 1)")
    hash: str = Field(description="sha256(prevHash + canonical JSON of the record), hex")
    trace_id: str | None = Field(
        default=None,
        description="the request's OpenTelemetry trace id (32 hex digits; `details.trace_id`), "
        "null when tracing was off; not a hashed field",
    )
    trace_url: str | None = Field(
        default=None,
        description="the trace in the tracing UI (`GIRU_OTEL__TRACE_URL` with the trace id), "
        "null without a trace id or that setting; not a hashed field",
    )


class AuditList(_Out):
    items: list[AuditItem]
    next_cursor: NextCursor


class ChainHead(_Out):
    node: str
    seq: int = Field(description="the newest record's seq (the number of records)")
    hash: str = Field(description="the newest record's hash: note it to detect truncation later")


class ChainProblem(_Out):
    node: str
    seq: int
    event_id: str
    kind: str = Field(description="`altered`, `broken_link` or `gap`")
    message: str


class AuditVerification(_Out):
    ok: bool = Field(description="every chain is intact")
    records: int
    nodes: int
    heads: list[ChainHead]
    problems: list[ChainProblem] = Field(description="the first bad record of each bad chain")


class AuditInput(_Out):
    event_id: str
    at: datetime
    actor: str
    action: str
    server: str | None
    target: str | None
    outcome: str
    policy_revision: str | None = Field(description="the bundle revision that decided the call")
    input: dict[str, Any] = Field(
        description="the decision input the record keeps (`details.input`) with placeholder "
        "argument values of the recorded shapes, as `giru policy replay` decides it; the "
        "argument values themselves are never stored (docs/policies/replay.md)"
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/audit",
        response_model=AuditList,
        operation_id="listAudit",
        summary="Audit records (one per MCP request decision), newest first, with filters",
        tags=["Audit"],
        responses=problems(401, 403, 422, 503),
    )
    async def list_audit(
        principal: Annotated[Principal, Depends(viewer)],
        actor: Annotated[
            str | None,
            Query(pattern=_TEXT_PATTERN, max_length=200, description="the client (actor)"),
        ] = None,
        outcome: _Text = None,
        action: _Text = None,
        server: _Text = None,
        target: Annotated[str | None, Query(pattern=_TARGET_PATTERN, max_length=2048)] = None,
        node: _Text = None,
        control: Annotated[
            str | None,
            Query(
                pattern=_TEXT_PATTERN,
                max_length=200,
                description="a compliance control, whole (`PCI DSS Req 3.4`): records whose policy "
                "decision had it in scope or whose violations cite it",
            ),
        ] = None,
        since: Annotated[
            str | None,
            Query(pattern=_TIME_PATTERN, max_length=40, description=f"inclusive; {_TIME}"),
        ] = None,
        until: Annotated[
            str | None,
            Query(pattern=_TIME_PATTERN, max_length=40, description=f"exclusive; {_TIME}"),
        ] = None,
        order: Annotated[
            AuditOrder, Query(description="`oldest`: chronological (exports)")
        ] = "newest",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        start, end = _instant(since, "since"), _instant(until, "until")
        if start is not None and end is not None and start >= end:
            raise ValidationError(
                "`since` must be before `until`",
                data={"errors": [{"field": "query.until", "reason": "must be after `since`"}]},
            )
        query = AuditQuery(actor, outcome, action, server, target, node, start, end, control)
        page = await ctx.store.list_audit(query, cursor=cursor, limit=limit, order=order)
        items = [audit_item(e, trace_url=ctx.trace_url) for e in page.items]
        return {"items": items, "nextCursor": page.next_cursor}

    @api.get(
        "/audit/verify",
        response_model=AuditVerification,
        operation_id="verifyAudit",
        summary="Check every node's hash chain; name the first bad record of each",
        tags=["Audit"],
        responses=problems(401, 403, 422, 503),
    )
    async def verify_audit(
        principal: Annotated[Principal, Depends(viewer)], node: _Text = None
    ) -> dict[str, Any]:
        result = await verify(ctx.store.audit_chain(node=node))
        return verification_body(result)

    @api.get(
        "/audit/{eventId}/input",
        response_model=AuditInput,
        operation_id="auditRecordInput",
        summary="A record's policy decision input, argument values replaced by placeholders",
        tags=["Audit"],
        responses=problems(401, 403, 404, 422, 503),
    )
    async def audit_record_input(
        principal: Annotated[Principal, Depends(viewer)],
        event_id: Annotated[
            str,
            Path(
                alias="eventId",
                pattern=_TEXT_PATTERN,
                max_length=200,
                description="the record's `eventId`",
            ),
        ],
    ) -> dict[str, Any]:
        entry = await ctx.store.audit_record(event_id)
        if entry is None:
            raise NotFoundError(f"no audit record {event_id!r}")
        recorded = entry.details.get("input")
        if not isinstance(recorded, dict):
            raise NotFoundError(
                f"audit record {event_id!r} keeps no decision input (only calls policy decided do)"
            )
        return {
            "eventId": entry.event_id,
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "server": entry.server,
            "target": entry.target,
            "outcome": entry.outcome,
            "policyRevision": entry.policy_revision,
            "input": replayed_input(recorded),
        }

    return api


def audit_item(entry: AuditEntry, *, trace_url: str | None = None) -> dict[str, Any]:
    """A stored record as the API shows it (and `giru audit export` writes it); `trace_url`:
    the template (GIRU_OTEL__TRACE_URL) that links a record's trace."""
    trace_id = entry.details.get("trace_id")
    if not (isinstance(trace_id, str) and _TRACE_ID.fullmatch(trace_id)):
        trace_id = None
    return {
        "eventId": entry.event_id,
        "at": entry.at,
        "node": entry.node,
        "seq": entry.seq,
        "actor": entry.actor,
        "action": entry.action,
        "server": entry.server,
        "target": entry.target,
        "outcome": entry.outcome,
        "reasons": entry.reasons,
        "policyRevision": entry.policy_revision,
        "sourceIp": entry.source_ip,
        "details": entry.details,
        "prevHash": entry.prev_hash,
        "hash": entry.hash,
        "traceId": trace_id,
        "traceUrl": None
        if trace_url is None or trace_id is None
        else trace_url.replace("{trace_id}", trace_id),
    }


def _instant(text: str | None, field: str) -> datetime | None:
    """The aware UTC datetime `text` names (without an offset: UTC)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            f"`{field}` is not a time: {exc}",
            data={"errors": [{"field": f"query.{field}", "reason": f"not a time ({exc})"}]},
        ) from exc
