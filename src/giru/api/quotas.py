"""Quotas: `GET /api/v1/quotas`, each active subscription's quota and its use this period."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext, QuotaUse
from giru.api.problems import problems
from giru.api.resources import API
from giru.limits import QuotaPeriod

__all__ = ["QuotaItem", "QuotaList", "router"]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class QuotaItem(_Out):
    subscription: str
    client: str | None = Field(description="the client subscribed (null: a person or group)")
    subject: dict[str, str] | None = Field(
        description="the people subscribed: `{user: EMAIL}` or `{group: NAME}` (null: a client)"
    )
    server: str
    period: QuotaPeriod = Field(description="the calendar day or month, in the tenant's zone")
    limit: int = Field(description="calls the subscription may make in the period")
    used: int = Field(description="calls admitted in the current period")
    used_fraction: float = Field(description="used / limit (1 when the limit is 0)")


class QuotaList(_Out):
    items: list[QuotaItem] = Field(description="the most used first")


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/quotas",
        response_model=QuotaList,
        operation_id="listQuotas",
        summary="Quotas of active subscriptions and their use in the current day or month",
        tags=["Usage"],
        responses=problems(401, 403, 422, 503),
    )
    async def list_quotas(
        principal: Annotated[Principal, Depends(viewer)],
        min_used: Annotated[
            float,
            Query(
                alias="minUsed",
                ge=0.0,
                le=1.0,
                description="only quotas used at least this much (0.8: 80 % or more)",
            ),
        ] = 0.0,
    ) -> dict[str, Any]:
        items = [_item(use) for use in await ctx.runtime.quota_use()]
        kept = [item for item in items if item["usedFraction"] >= min_used]
        kept.sort(key=lambda item: (-item["usedFraction"], item["subscription"], item["period"]))
        return {"items": kept}

    return api


def _item(use: QuotaUse) -> dict[str, Any]:
    fraction = 1.0 if use["limit"] == 0 else use["used"] / use["limit"]
    return {**use, "usedFraction": round(fraction, 4)}
