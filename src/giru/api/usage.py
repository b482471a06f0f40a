"""Usage: `GET /api/v1/usage`, totals and duration percentiles of metered tool calls."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.api.schemas import NAME_PATTERN
from giru.errors import ValidationError
from giru.store.usage import GroupBy, UsageSummary

__all__ = ["UsageItem", "UsageList", "router"]

_NameFilter = Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=40)]
_TOOL_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
_PERSON_PATTERN = r"^[^\x00-\x1f\x7f]{1,320}$"
_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_TIME_DESCRIPTION = "RFC 3339 (`2026-03-15T08:00:00Z`) or a date; without an offset: UTC"


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class UsageItem(_Out):
    key: str | None = Field(
        description="the group: a client, subscription or server name, `server__tool`, a day "
        "(`YYYY-MM-DD` in the tenant's time zone), a person's email or an OAuth client id; null "
        "for the total, or calls without a subscription (or person, or agent: API-key calls)"
    )
    calls: int = Field(description="every metered call, rejected ones included")
    errors: int = Field(description="outcome `error`, `upstream_error` or `tool_error`")
    rejected: int = Field(description="refused by a rate limit or quota")
    duration_ms_p50: float | None = Field(description="median duration of admitted calls")
    duration_ms_p95: float | None
    duration_ms_p99: float | None
    bytes_in: int
    bytes_out: int


class UsageList(_Out):
    items: list[UsageItem]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/usage",
        response_model=UsageList,
        operation_id="getUsage",
        summary="Usage of tools: calls, errors, rejections, durations and bytes per group",
        tags=["Usage"],
        responses=problems(401, 403, 422, 503),
    )
    async def get_usage(
        principal: Annotated[Principal, Depends(viewer)],
        client: _NameFilter = None,
        subscription: _NameFilter = None,
        server: _NameFilter = None,
        tool: Annotated[
            str | None,
            Query(pattern=_TOOL_PATTERN, max_length=200, description="upstream tool name"),
        ] = None,
        since: Annotated[
            str | None,
            Query(
                alias="from",
                pattern=_TIME_PATTERN,
                max_length=40,
                description=f"inclusive; {_TIME_DESCRIPTION}",
            ),
        ] = None,
        until: Annotated[
            str | None,
            Query(
                alias="to",
                pattern=_TIME_PATTERN,
                max_length=40,
                description=f"exclusive; {_TIME_DESCRIPTION}",
            ),
        ] = None,
        group_by: Annotated[
            GroupBy | None,
            Query(
                alias="groupBy",
                description="omitted: one total; `person`: per person signed in over OAuth, "
                "`agent`: per OAuth client acting for them",
            ),
        ] = None,
        person: Annotated[
            str | None,
            Query(
                pattern=_PERSON_PATTERN,
                max_length=320,
                description="only this person's calls (email, else subject; any case)",
            ),
        ] = None,
    ) -> dict[str, Any]:
        start, end = _instant(since, "from"), _instant(until, "to")
        if start is not None and end is not None and start >= end:
            raise ValidationError(
                "`from` must be before `to`",
                data={"errors": [{"field": "query.to", "reason": "must be after `from`"}]},
            )
        found = await ctx.store.usage_summary(
            client=client,
            subscription=subscription,
            server=server,
            tool=tool,
            since=start,
            until=end,
            group_by=group_by,
            person=person,
        )
        return {"items": [_item(summary) for summary in found]}

    return api


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


def _item(summary: UsageSummary) -> dict[str, Any]:
    return {
        "key": summary.key,
        "calls": summary.calls,
        "errors": summary.errors,
        "rejected": summary.rejected,
        "durationMsP50": summary.duration_ms_p50,
        "durationMsP95": summary.duration_ms_p95,
        "durationMsP99": summary.duration_ms_p99,
        "bytesIn": summary.bytes_in,
        "bytesOut": summary.bytes_out,
    }
