"""Who may administer Giru and what they did: admin keys, `whoami` and the change log."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.api.schemas import (
    NAME_PATTERN,
    AdminKeyCreate,
    AdminKeyCreated,
    AdminKeyList,
    ChangeList,
    WhoAmI,
)
from giru.store import AdminKeyInfo

__all__ = ["router"]

_KeyName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=40, description="key name")]
_KINDS = (
    "MCPServer",
    "VirtualServer",
    "Client",
    "Subscription",
    "Environment",
    "Policy",
    "IdentityProvider",
    "AdminKey",
)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    _add_whoami(api, ctx)
    _add_changes(api, ctx)
    _add_admin_keys(api, ctx)
    _add_create_admin_key(api, ctx)
    _add_revoke_admin_key(api, ctx)
    return api


def _admin_key_body(key: AdminKeyInfo) -> dict[str, Any]:
    return {
        "name": key.name,
        "role": key.role,
        "createdAt": key.created_at,
        "revokedAt": key.revoked_at,
    }


def _add_whoami(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/whoami",
        response_model=WhoAmI,
        operation_id="whoami",
        summary="The admin key this request authenticated with, and its role",
        tags=["Admin"],
        responses=problems(401, 403),
    )
    async def whoami(principal: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        return {"name": principal.name, "role": principal.role}


def _add_changes(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/changes",
        response_model=ChangeList,
        operation_id="listChanges",
        summary="The change log, newest first: every write with its actor",
        tags=["Admin"],
        responses=problems(401, 403, 422),
    )
    async def list_changes(
        principal: Annotated[Principal, Depends(viewer)],
        kind: Annotated[str | None, Query(max_length=40, examples=list(_KINDS))] = None,
        name: Annotated[str | None, Query(max_length=40)] = None,
        action: Annotated[str | None, Query(max_length=32, examples=["health"])] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        page = await ctx.store.list_changes(
            kind=kind, name=name, action=action, limit=limit, cursor=cursor
        )
        items = [
            {
                "id": change.id,
                "at": change.at,
                "actor": change.actor,
                "action": change.action,
                "kind": change.kind,
                "name": change.name,
                "version": change.version,
                "detail": change.detail,
            }
            for change in page.items
        ]
        return {"items": items, "nextCursor": page.next_cursor}


def _add_admin_keys(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/admin-keys",
        response_model=AdminKeyList,
        operation_id="listAdminKeys",
        summary="List admin keys (names and roles, never the keys)",
        tags=["Admin"],
        responses=problems(401, 403),
    )
    async def list_admin_keys(principal: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        keys = await ctx.store.list_admin_keys()
        return {"items": [_admin_key_body(key) for key in keys]}


def _add_create_admin_key(api: APIRouter, ctx: ApiContext) -> None:
    admin = ctx.auth.require("admin")

    @api.post(
        "/admin-keys",
        status_code=201,
        response_model=AdminKeyCreated,
        operation_id="createAdminKey",
        summary="Create an admin key (shown once)",
        tags=["Admin"],
        responses=problems(401, 403, 409, 413, 415, 422),
    )
    async def create_admin_key(
        principal: Annotated[Principal, Depends(admin)], body: AdminKeyCreate
    ) -> dict[str, Any]:
        key, plaintext = await ctx.store.create_admin_key(
            body.name, body.role, actor=principal.name
        )
        ctx.committed()
        return {**_admin_key_body(key), "apiKey": plaintext}


def _add_revoke_admin_key(api: APIRouter, ctx: ApiContext) -> None:
    admin = ctx.auth.require("admin")

    @api.delete(
        "/admin-keys/{name}",
        status_code=204,
        response_class=Response,
        operation_id="revokeAdminKey",
        summary="Revoke an admin key (it stops working within seconds on every worker)",
        tags=["Admin"],
        responses=problems(401, 403, 404, 422),
    )
    async def revoke_admin_key(
        principal: Annotated[Principal, Depends(admin)], name: _KeyName
    ) -> Response:
        await ctx.store.revoke_admin_key(name, actor=principal.name)
        ctx.committed()
        return Response(status_code=204)
