"""Secrets: write-only values, readable metadata (name, version, entries, backend, when, who).

`PUT` takes the value; no response, listing or error ever carries it back. Values reach only the
upstream servers whose `spec.auth` references them (docs/credentials.md).
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.credentials import NAME_PATTERN, SecretStore
from giru.errors import CredentialsUnavailableError
from giru.store.records import SecretRecord

__all__ = ["RotationOut", "SecretInput", "SecretList", "SecretOut", "router", "secret_body"]

_SecretName = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=100, description="the secret's name")
]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class SecretInput(BaseModel):
    """A new version of a secret: its entries (`value` is the one references read by
    default). Never returned."""

    model_config = ConfigDict(extra="forbid", strict=True)

    data: dict[str, str] = Field(
        description="entries `key: value`; at most 32, 64 KiB in all (GIRU_SECRETS__MAX_BYTES)",
        examples=[{"value": "ghp_..."}],
    )


class SecretOut(_Model):
    name: str
    version: int = Field(description="increases with every write (Vault's KV version)")
    backend: str = Field(description="`database` (sealed in the store) or `vault`")
    entries: list[str] = Field(description="the names of its entries, never their values")
    size: int = Field(description="bytes of the entries as JSON")
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SecretList(_Model):
    items: list[SecretOut]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null: the last page"
    )


class RotationOut(_Model):
    key_id: str = Field(description="the key-encryption key every data key is wrapped by now")
    rewrapped: int
    failed: int = Field(description="data keys sealed by a key this process does not hold")
    generated: bool = Field(description="Giru made the new key (the embedded default key file)")


def secret_body(record: SecretRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "backend": record.backend,
        "entries": list(record.entries),
        "size": record.size,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "updatedBy": record.updated_by,
    }


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API, tags=["Secrets"])
    _add_put(api, ctx)
    _add_get(api, ctx)
    _add_list(api, ctx)
    _add_delete(api, ctx)
    _add_rotate(api, ctx)
    return api


def _store(ctx: ApiContext) -> SecretStore:
    if ctx.secrets is None:
        raise CredentialsUnavailableError("this process has no secret store")
    return ctx.secrets


def _add_put(api: APIRouter, ctx: ApiContext) -> None:
    operator = ctx.auth.require("operator")

    @api.put(
        "/secrets/{name}",
        response_model=SecretOut,
        operation_id="putSecret",
        summary="Create or replace a secret (a new version); the value is never returned",
        responses={
            **problems(401, 403, 413, 415, 422, 503),
            201: {"description": "Created", "model": SecretOut},
        },
    )
    async def put_secret(
        principal: Annotated[Principal, Depends(operator)],
        name: _SecretName,
        body: SecretInput,
        response: Response,
    ) -> dict[str, Any]:
        record, created = await _store(ctx).put(name, body.data, actor=principal.name)
        ctx.committed()
        response.status_code = 201 if created else 200
        return secret_body(record)


def _add_get(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/secrets/{name}",
        response_model=SecretOut,
        operation_id="getSecret",
        summary="A secret's metadata (never its value)",
        responses=problems(401, 403, 404, 422, 503),
    )
    async def get_secret(
        principal: Annotated[Principal, Depends(viewer)], name: _SecretName
    ) -> dict[str, Any]:
        return secret_body(await _store(ctx).info(name))


def _add_list(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/secrets",
        response_model=SecretList,
        operation_id="listSecrets",
        summary="Secrets by name: metadata only",
        responses=problems(401, 403, 422, 503),
    )
    async def list_secrets(
        principal: Annotated[Principal, Depends(viewer)],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
    ) -> dict[str, Any]:
        page = await _store(ctx).list(limit=limit, cursor=cursor)
        return {"items": [secret_body(r) for r in page.items], "nextCursor": page.next_cursor}


def _add_delete(api: APIRouter, ctx: ApiContext) -> None:
    operator = ctx.auth.require("operator")

    @api.delete(
        "/secrets/{name}",
        status_code=204,
        response_class=Response,
        operation_id="deleteSecret",
        summary="Delete a secret and every version of its value",
        responses=problems(401, 403, 404, 422, 503),
    )
    async def delete_secret(
        principal: Annotated[Principal, Depends(operator)], name: _SecretName
    ) -> Response:
        await _store(ctx).delete(name, actor=principal.name)
        ctx.committed()
        return Response(status_code=204)


def _add_rotate(api: APIRouter, ctx: ApiContext) -> None:
    admin = ctx.auth.require("admin")

    @api.post(
        "/secrets:rotate-key",
        response_model=RotationOut,
        operation_id="rotateSecretsKey",
        summary="Re-wrap every data key under the current key-encryption key",
        description=(
            "With the embedded default key file, Giru makes a new key first and drops the old "
            "one once every data key is re-wrapped; with GIRU_SECRETS__KEY it re-wraps under "
            "the key configured now (the old one in GIRU_SECRETS__PREVIOUS_KEYS). Secrets stay "
            "readable throughout."
        ),
        responses=problems(401, 403, 503),
    )
    async def rotate_key(principal: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        rotation = await _store(ctx).rotate_key(actor=principal.name)
        return {
            "keyId": rotation.key_id,
            "rewrapped": rotation.rewrapped,
            "failed": rotation.failed,
            "generated": rotation.generated,
        }
