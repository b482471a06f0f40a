"""The tool catalog: `GET /api/v1/tools` (every synced upstream tool) and a sync on demand."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API, ObjectName
from giru.api.schemas import NAME_PATTERN, SyncOut, ToolList
from giru.store import ToolRecord

__all__ = ["router"]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    _add_tools(api, ctx)
    _add_sync(api, ctx)
    return api


def _tool_body(tool: ToolRecord) -> dict[str, Any]:
    return {
        "server": tool.server,
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "tags": list(tool.tags),
        "category": tool.category,
        "definitionHash": tool.definition_hash,
        "available": tool.available,
        "firstSeenAt": tool.first_seen_at,
        "lastSyncedAt": tool.last_synced_at,
    }


def _add_tools(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/tools",
        response_model=ToolList,
        operation_id="listTools",
        summary="List the tools of every server as last synced",
        tags=["Catalog"],
        responses=problems(401, 403, 422),
    )
    async def list_tools(
        principal: Annotated[Principal, Depends(viewer)],
        server: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=40)] = None,
        tag: Annotated[str | None, Query(max_length=63)] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="text in name/description")
        ] = None,
        available: Annotated[bool | None, Query(description="false: tools gone upstream")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        page = await ctx.store.list_tools(
            server=server, tag=tag, q=q, available=available, limit=limit, cursor=cursor
        )
        return {"items": [_tool_body(tool) for tool in page.items], "nextCursor": page.next_cursor}


def _add_sync(api: APIRouter, ctx: ApiContext) -> None:
    operator = ctx.auth.require("operator")

    @api.post(
        "/servers/{name}/sync",
        response_model=SyncOut,
        operation_id="syncServer",
        summary="Fetch a server's tools/list now and update the catalog",
        tags=["Servers"],
        responses=problems(401, 403, 404, 413, 415, 422, 502, 503, 504),
    )
    async def sync_server(
        principal: Annotated[Principal, Depends(operator)], name: ObjectName
    ) -> dict[str, Any]:
        await ctx.store.get("MCPServer", name)  # 404 before touching the network
        result = await ctx.runtime.sync(name)
        ctx.committed()
        return asdict(result)
