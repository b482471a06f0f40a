"""Policy decisions through the API: `POST /api/v1/policy/eval` (a what-if for one OPA input
document) and `GET /api/v1/policy/status` (the engine, its bundle revision and packs).

Both go to the running gateway's policy engine (`ApiRuntime`); without one, eval answers 503
`policy_unavailable` and status says `active: false`.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.manifests.bounds import BoundedPolicyInput

__all__ = ["DecisionOut", "EvalRequest", "PolicyStatusOut", "router"]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    input: BoundedPolicyInput = Field(
        description="the OPA input document: `mcp`, `context`, `request`, `subscription`, "
        "`binding` (docs/policies/input.md)"
    )


class DenyReason(_Out):
    pack: str
    control: str = Field(description="the regulatory control, e.g. `PCI DSS Req 3.4`")
    message: str


class RedactInstruction(_Out):
    target: str = Field(description="`result` or `arguments`")
    kind: str = Field(description="`pan`, `ssn`, `email`, `phone`, ...")
    action: str = Field(description="`mask`, ...")


class DecisionOut(_Out):
    """The decision document of `giru.decision` (docs/policies/input.md)."""

    allow: bool = Field(description="true exactly when no deny reason applies")
    deny: list[DenyReason] = Field(default_factory=list)
    redact: list[RedactInstruction] = Field(default_factory=list)
    audit: dict[str, Any] = Field(default_factory=dict)
    approve: list[DenyReason] = Field(
        default_factory=list, description="rules holding the call for a person's approval"
    )
    alerts: list[dict[str, Any]] = Field(default_factory=list)
    revision: str | None = Field(default=None, description="the bundle revision that decided")


class PolicyStatusOut(_Out):
    active: bool = Field(description="a compiled bundle is deciding calls")
    revision: str | None
    packs: list[str]
    opa: Literal["embedded", "external", "none"] = Field(
        description="a managed child process, an external OPA (`url`), or no engine"
    )
    url: str | None
    last_error: str | None = Field(description="why the last load or decision failed")


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=f"{API}/policy", tags=["Policies"])
    operator = ctx.auth.require("operator")
    viewer = ctx.auth.require("viewer")

    @api.post(
        "/eval",
        response_model=DecisionOut,
        operation_id="evaluatePolicy",
        summary="The decision policy would make for one input document (a what-if)",
        responses=problems(401, 403, 413, 415, 422, 503),
    )
    async def evaluate_policy(
        principal: Annotated[Principal, Depends(operator)], body: EvalRequest
    ) -> dict[str, Any]:
        return await ctx.runtime.evaluate_policy(body.input)

    @api.get(
        "/status",
        response_model=PolicyStatusOut,
        operation_id="policyStatus",
        summary="The policy engine: active bundle revision, packs, OPA mode, last error",
        responses=problems(401, 403),
    )
    async def policy_status(principal: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        return ctx.runtime.policy_status()

    return api
