"""Tool trust reviews: `GET /api/v1/tool-reviews` (held changes with their diff and findings)
and `POST /api/v1/servers/{name}/tools/approve|reject` (`giru tools review|approve|reject`)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API, ObjectName
from giru.api.schemas import NAME_PATTERN
from giru.trust import Verdict, decide, review_items

__all__ = ["DecisionIn", "ReviewDecisionOut", "ToolReviewList", "router"]

_TOOL = r"^[A-Za-z0-9_./-]{1,128}$"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class PathChange(_Model):
    path: str = Field(description="JSON Pointer into the tool definition")
    op: Literal["add", "remove", "replace"]
    before: Any = None
    after: Any = None


class FindingOut(_Model):
    rule: str
    severity: Literal["low", "medium", "high"]
    reason: str


class ToolReview(_Model):
    server: str
    tool: str
    change: Literal["added", "changed", "removed"]
    state: Literal["pending", "rejected"]
    definition_hash: str | None = Field(description="the offered definition's hash (none: removed)")
    approved_hash: str | None = Field(description="the pinned definition's hash (none: new tool)")
    size: int = Field(description="bytes of the offered definition (canonical JSON)")
    definition: dict[str, Any] | None = Field(
        description="the offered definition (none: removed, or larger than the store keeps)"
    )
    diff: list[PathChange] = Field(description="what differs from the approved definition")
    diff_total: int = Field(description="changed paths in all (the diff lists up to 200)")
    diff_available: bool = Field(description="false: a definition was too large to keep")
    text_diff: dict[str, str] = Field(
        description="unified diffs of the description and title, for people to read"
    )
    findings: list[FindingOut] = Field(description="poisoning checks on the offered definition")
    blocking: bool = Field(description="a high-severity finding: approving needs force")
    offers: int = Field(description="how many different definitions were offered while held")
    history: list[dict[str, Any]] = Field(description="the last offers (hash, time)")
    first_detected_at: str
    detected_at: str
    decided_by: str | None = None
    decided_at: str | None = None


class ToolReviewList(_Model):
    items: list[ToolReview]


class DecisionIn(_Model):
    tools: list[Annotated[str, Field(pattern=_TOOL)]] = Field(
        default_factory=list,
        max_length=4096,
        description="the tools to decide (empty: every pending change of the server)",
    )
    expect: dict[str, str] | None = Field(
        default=None,
        description="tool → the definition hash reviewed; another one now answers 412",
    )
    force: bool = Field(default=False, description="approve despite a high-severity finding")


class Decision(_Model):
    tool: str
    change: Literal["added", "changed", "removed"]
    definition_hash: str | None
    blocking: bool


class ReviewDecisionOut(_Model):
    server: str
    verdict: Literal["approve", "reject"]
    items: list[Decision]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    _add_list(api, ctx)
    for verdict in ("approve", "reject"):
        _add_decision(api, ctx, verdict)
    return api


def _add_list(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/tool-reviews",
        response_model=ToolReviewList,
        operation_id="listToolReviews",
        summary="Tool changes held for review (one per tool), with their diff and findings",
        tags=["Tool trust"],
        responses=problems(401, 403, 422),
    )
    async def list_tool_reviews(
        principal: Annotated[Principal, Depends(viewer)],
        server: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=40)] = None,
        state: Annotated[Literal["pending", "rejected"] | None, Query()] = None,
    ) -> dict[str, Any]:
        items = await review_items(
            ctx.store.database, ctx.store.tenant_id, server=server, state=state
        )
        return {"items": items}


def _add_decision(api: APIRouter, ctx: ApiContext, verdict: Verdict) -> None:
    operator = ctx.auth.require("operator")
    summaries = {
        "approve": "Approve held tool changes: the offered definitions are pinned and served",
        "reject": "Reject held tool changes: the tools stay held until the server offers an "
        "approved definition",
    }

    @api.post(
        f"/servers/{{name}}/tools/{verdict}",
        response_model=ReviewDecisionOut,
        operation_id=f"{verdict}ToolChanges",
        summary=summaries[verdict],
        tags=["Tool trust"],
        responses=problems(401, 403, 404, 409, 412, 413, 415, 422, 503),
    )
    async def decide_tools(
        principal: Annotated[Principal, Depends(operator)],
        name: ObjectName,
        body: DecisionIn | None = None,
    ) -> dict[str, Any]:
        request = body if body is not None else DecisionIn()
        decided = await decide(
            ctx.store.database,
            ctx.store.tenant_id,
            name,
            request.tools,
            verdict=verdict,
            actor=principal.name,
            expect=request.expect,
            force=request.force,
            trail=ctx.tool_trail,
        )
        if decided:
            ctx.committed()
        items = [
            {
                "tool": d.tool,
                "change": d.change,
                "definitionHash": d.definition_hash or None,
                "blocking": d.blocking,
            }
            for d in decided
        ]
        return {"server": name, "verdict": verdict, "items": items}
