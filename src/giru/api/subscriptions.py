"""Subscription lifecycle: `POST /api/v1/subscriptions/{name}/approve|reject|suspend|resume`.

approve moves pending → active, reject pending → rejected, suspend active → suspended, resume
suspended → active; any other move is 409 `invalid_transition`. The approver (the admin key's
name) is recorded by the store; an optional body `{"reason": …}` goes to the change log.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API, IfMatch, ObjectName, etag, expected_version, resource_body
from giru.api.schemas import Subscription, TransitionRequest

__all__ = ["router"]

Transition = Literal["approve", "reject", "suspend", "resume"]
_SUMMARIES: dict[Transition, str] = {
    "approve": "Approve a pending subscription (pending → active)",
    "reject": "Reject a pending subscription (pending → rejected)",
    "suspend": "Suspend an active subscription (active → suspended)",
    "resume": "Resume a suspended subscription (suspended → active)",
}


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=f"{API}/subscriptions")
    for action, summary in _SUMMARIES.items():
        _add_transition(api, ctx, action, summary)
    return api


def _add_transition(api: APIRouter, ctx: ApiContext, action: Transition, summary: str) -> None:
    operator = ctx.auth.require("operator")

    @api.post(
        f"/{{name}}/{action}",
        response_model=Subscription,
        operation_id=f"{action}Subscription",
        summary=summary,
        tags=["Subscriptions"],
        responses={
            200: {"headers": {"ETag": {"schema": {"type": "string"}}}},
            **problems(401, 403, 404, 409, 412, 413, 415, 422),
        },
    )
    async def transition(
        principal: Annotated[Principal, Depends(operator)],
        name: ObjectName,
        response: Response,
        if_match: IfMatch = None,
        body: TransitionRequest | None = None,
    ) -> dict[str, Any]:
        resource = await ctx.store.transition(
            name,
            action,
            actor=principal.name,
            expected_version=expected_version(if_match),
            reason=None if body is None else body.reason,
        )
        ctx.committed()
        response.headers["ETag"] = etag(resource.version)
        return resource_body(resource)
