"""A client's API keys (list, rotate in a new one, revoke) and the tools it may call now.

A generated key is in the response that creates it and nowhere else: listings show its prefix.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API, ObjectName
from giru.api.schemas import ClientToolsOut, KeyCreated, KeyList
from giru.store import KeyInfo

__all__ = ["router"]

_KeyId = Annotated[str, Path(min_length=1, max_length=64, description="the key's id")]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=f"{API}/clients/{{name}}", tags=["Clients"])
    _add_keys(api, ctx)
    _add_rotate(api, ctx)
    _add_revoke(api, ctx)
    _add_tools(api, ctx)
    return api


def _key_body(key: KeyInfo) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "source": key.source,
        "createdAt": key.created_at,
    }


def _add_keys(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/keys",
        response_model=KeyList,
        operation_id="listClientKeys",
        summary="List a client's active API keys (prefixes only)",
        responses=problems(401, 403, 404, 422),
    )
    async def list_keys(
        principal: Annotated[Principal, Depends(viewer)], name: ObjectName
    ) -> dict[str, Any]:
        keys = await ctx.store.list_client_keys(name)
        return {"items": [_key_body(key) for key in keys]}


def _add_rotate(api: APIRouter, ctx: ApiContext) -> None:
    operator = ctx.auth.require("operator")

    @api.post(
        "/keys",
        status_code=201,
        response_model=KeyCreated,
        operation_id="createClientKey",
        summary="Generate a new API key for a client (shown once); older keys stay valid",
        responses=problems(401, 403, 404, 413, 415, 422),
    )
    async def create_key(
        principal: Annotated[Principal, Depends(operator)], name: ObjectName
    ) -> dict[str, Any]:
        key, plaintext = await ctx.store.add_client_key(name, actor=principal.name)
        ctx.committed()
        return {**_key_body(key), "apiKey": plaintext}


def _add_revoke(api: APIRouter, ctx: ApiContext) -> None:
    operator = ctx.auth.require("operator")

    @api.delete(
        "/keys/{key_id}",
        status_code=204,
        response_class=Response,
        operation_id="revokeClientKey",
        summary="Revoke one of a client's API keys",
        responses=problems(401, 403, 404, 422),
    )
    async def revoke_key(
        principal: Annotated[Principal, Depends(operator)], name: ObjectName, key_id: _KeyId
    ) -> Response:
        await ctx.store.revoke_client_key(name, key_id, actor=principal.name)
        ctx.committed()
        return Response(status_code=204)


def _add_tools(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/tools",
        response_model=ClientToolsOut,
        operation_id="listClientTools",
        summary="The tools a client may call now, where each comes from, and its quota",
        description=(
            "Each tool with the subscription granting it and that subscription's quota: "
            "`usedToday` / `usedThisMonth` count admitted calls (null without a quota)."
        ),
        responses=problems(401, 403, 404, 422),
    )
    async def client_tools(
        principal: Annotated[Principal, Depends(viewer)], name: ObjectName
    ) -> dict[str, Any]:
        await ctx.store.get("Client", name)  # 404 for an unknown client
        return {"tools": await ctx.runtime.client_tools(name)}
