"""Calls waiting for a person's approval: `GET /api/v1/approvals`,
`POST /api/v1/approvals/{id}/approve` and `POST /api/v1/approvals/{id}/deny`
(`giru approvals`, `giru approvals approve ID`, `giru approvals deny ID --reason`)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.approvals import ApprovalDesk, Ticket
from giru.errors import StoreUnavailableError

__all__ = ["ApprovalList", "ApprovalOut", "Decision", "router"]

_Id = Annotated[
    str, Path(pattern=r"^apr-[0-9a-f]{1,32}$", max_length=40, description="the approval's id")
]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class ApprovalOut(_Out):
    id: str
    status: Literal["pending", "approved", "denied", "expired"]
    actor: str = Field(description="the client (or person) whose call waits")
    server: str
    tool: str
    summary: str = Field(description="the call's arguments, redacted: never secrets in clear")
    controls: list[str] = Field(description="the policy rules that asked for an approval")
    created_at: datetime
    expires_at: datetime = Field(description="the call fails unless decided before this")
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    node: str = Field(description="the worker holding the call")


class ApprovalList(_Out):
    items: list[ApprovalOut]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(
        default=None, max_length=500, description="why (shown to the caller)"
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=f"{API}/approvals", tags=["Approvals"])
    _add_list(api, ctx)
    _add_decide(api, ctx, "approve")
    _add_decide(api, ctx, "deny")
    return api


def _desk(ctx: ApiContext) -> ApprovalDesk:
    if ctx.approvals is None:
        raise StoreUnavailableError("this process holds no approval queue")
    return ctx.approvals


def _add_list(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "",
        response_model=ApprovalList,
        operation_id="listApprovals",
        summary="Calls waiting for a person's approval, then those decided in the last hour",
        responses=problems(401, 403, 503),
    )
    async def list_approvals(principal: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        return {"items": [_body(ticket) for ticket in await _desk(ctx).tickets()]}


def _add_decide(api: APIRouter, ctx: ApiContext, verb: Literal["approve", "deny"]) -> None:
    operator = ctx.auth.require("operator")
    status: Literal["approved", "denied"] = "approved" if verb == "approve" else "denied"

    @api.post(
        f"/{{id}}/{verb}",
        response_model=ApprovalOut,
        operation_id=f"{verb}Approval",
        summary=f"{verb.capitalize()} a waiting call (once: a decided call is a conflict)",
        responses=problems(401, 403, 404, 409, 415, 422, 503),
    )
    async def decide(
        principal: Annotated[Principal, Depends(operator)],
        id: _Id,
        request: Request,
        body: Decision | None = None,
    ) -> dict[str, Any]:
        source = request.client.host if request.client is not None else None
        reason = body.reason if body is not None else None
        ticket = await _desk(ctx).decide(id, status, principal.name, reason, source)
        return _body(ticket)


def _body(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "status": ticket.status,
        "actor": ticket.actor,
        "server": ticket.server,
        "tool": ticket.tool,
        "summary": ticket.summary,
        "controls": ticket.controls,
        "createdAt": ticket.created_at,
        "expiresAt": ticket.expires_at,
        "decidedBy": ticket.decided_by,
        "decidedAt": ticket.decided_at,
        "reason": ticket.reason,
        "node": ticket.node,
    }
