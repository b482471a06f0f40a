"""`GET /api/v1/sign-in`: how a person may sign in to the web console, asked before signing in
(so without authentication).

It names the company IdP when Giru's authorization server signs people in there (an
`IdentityProvider` in broker mode) and an IdP group grants an API role
(`GIRU_IDENTITY__ADMIN_GROUP`, `__OPERATOR_GROUP`, `__VIEWER_GROUP`); the console then runs the
authorization code flow with PKCE against Giru's own endpoints, as `giru login --sso` does, for
an access token whose audience is the API. Nothing here is secret: the same endpoints are in the
authorization server metadata.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import API_PATH
from giru.api.context import ApiContext, SignInOffer
from giru.api.resources import API
from giru.identity.broker.metadata import PATHS

__all__ = ["IdentityProviderSignIn", "SignInOptions", "router"]


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class IdentityProviderSignIn(_Out):
    name: str = Field(description="the `IdentityProvider` people sign in at")
    issuer: str = Field(description="Giru's authorization server (`iss` of its answers)")
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str
    revocation_endpoint: str
    resource: str = Field(description="the API as an OAuth resource: the token's audience")


class SignInOptions(_Out):
    identity_provider: IdentityProviderSignIn | None = Field(
        description="null: sign in with an admin key only"
    )


def _offered(offer: SignInOffer) -> dict[str, Any]:
    issuer = offer.issuer
    endpoints = ("authorization", "token", "registration", "revocation")
    return {
        "name": offer.provider,
        "issuer": issuer,
        **{f"{name}_endpoint": issuer + PATHS[f"{name}_endpoint"] for name in endpoints},
        "resource": issuer + API_PATH,
    }


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API)

    @api.get(
        "/sign-in",
        response_model=SignInOptions,
        operation_id="signInOptions",
        summary="How people sign in to the console: the company IdP, if any (no authentication)",
        tags=["Admin"],
    )
    async def sign_in_options() -> dict[str, Any]:
        offer = ctx.sign_in() if ctx.sign_in is not None else None
        return {"identity_provider": None if offer is None else _offered(offer)}

    return api
