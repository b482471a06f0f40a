"""People signed in through Giru's authorization server: `GET /api/v1/users` and
`POST /api/v1/users/{email}/revoke` (`giru users list`, `giru users revoke EMAIL`)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.errors import NotFoundError
from giru.identity.broker.storage import OAuthStore, PersonSeen

__all__ = ["EMAIL_PATTERN", "Revoked", "UserList", "UserOut", "router"]

EMAIL_PATTERN = r"^[^@\s/\x00-\x1f\x7f]{1,64}@[^@\s/\x00-\x1f\x7f]{1,189}$"
_REVOKED_REASON = "admin_revoked"
_Email = Annotated[
    str, Path(pattern=EMAIL_PATTERN, max_length=254, description="the person's email")
]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class UserOut(_Out):
    email: str = Field(description="how Giru names the person: the email, else the subject")
    subject: str | None = Field(description="`sub` at the IdP (null: only a revocation is known)")
    groups: list[str] = Field(description="IdP groups at the last sign-in or refresh")
    refresh_families: int = Field(description="sign-ins that got a refresh token")
    active_refresh_families: int = Field(description="those not revoked nor expired")
    last_seen: datetime | None = Field(description="the last sign-in or refresh")
    revoked_at: datetime | None = Field(
        description="when an admin last revoked the person's access: tokens issued before it "
        "are refused"
    )


class UserList(_Out):
    items: list[UserOut]


class Revoked(_Out):
    email: str
    not_before: datetime = Field(description="access tokens issued before this are refused")
    refresh_families_revoked: int = Field(description="refresh-token families revoked now")


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)
    _add_list(api, ctx)
    _add_revoke(api, ctx)
    return api


def _oauth(ctx: ApiContext) -> OAuthStore:
    return OAuthStore(ctx.store.database, ctx.store.tenant_id)


def _add_list(api: APIRouter, ctx: ApiContext) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        "/users",
        response_model=UserList,
        operation_id="listUsers",
        summary="People who signed in through Giru's authorization server, most recent first",
        tags=["Users"],
        responses=problems(401, 403),
    )
    async def list_users(principal: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        seen = await _oauth(ctx).people()
        revoked = await ctx.store.person_revocations()
        items = [_user(person, revoked.pop(person.label.lower(), None)) for person in seen]
        items += [_revoked_only(label, at) for label, at in sorted(revoked.items())]
        return {"items": items}


def _add_revoke(api: APIRouter, ctx: ApiContext) -> None:
    admin = ctx.auth.require("admin")

    @api.post(
        "/users/{email}/revoke",
        response_model=Revoked,
        operation_id="revokeUser",
        summary="Revoke a person's access at once: their access tokens and refresh tokens stop "
        "working on every worker; signing in again works",
        tags=["Users"],
        responses=problems(401, 403, 404, 422),
    )
    async def revoke_user(
        principal: Annotated[Principal, Depends(admin)], email: _Email
    ) -> dict[str, Any]:
        oauth = _oauth(ctx)
        known = {person.label.lower(): person for person in await oauth.people()}
        person = known.get(email.lower())
        if person is None and email.lower() not in await ctx.store.person_revocations():
            raise NotFoundError(f"no person {email!r} has signed in through Giru")
        label = person.label if person is not None else email
        families = await oauth.revoke_person(label, _REVOKED_REASON, datetime.now(UTC))
        not_before = await ctx.store.revoke_person(
            label, actor=principal.name, families=len(families)
        )
        await ctx.revoked(label, not_before, families=len(families), actor=principal.name)
        return {
            "email": label,
            "notBefore": not_before,
            "refreshFamiliesRevoked": len(families),
        }


def _user(person: PersonSeen, revoked_at: datetime | None) -> dict[str, Any]:
    return {
        "email": person.label,
        "subject": person.subject,
        "groups": list(person.groups),
        "refreshFamilies": person.families,
        "activeRefreshFamilies": person.active_families,
        "lastSeen": person.last_seen,
        "revokedAt": revoked_at,
    }


def _revoked_only(label: str, revoked_at: datetime) -> dict[str, Any]:
    return {
        "email": label,
        "subject": None,
        "groups": [],
        "refreshFamilies": 0,
        "activeRefreshFamilies": 0,
        "lastSeen": None,
        "revokedAt": revoked_at,
    }
