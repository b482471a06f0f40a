"""People's OAuth connections to upstream servers (`spec.auth: {type: oauth2-authorization-code}`).

`POST` starts a connection and answers the URL to open in a browser; the authorization server
sends the browser back to `/oauth/callback`, which keeps the tokens. `GET` lists connections
(who, scopes, expiry, last refresh, status; never a token). `DELETE` disconnects (revoking the
tokens at the authorization server when it offers revocation). A `perUser` server's connections
are each person's own: a person signed in over OAuth manages theirs, whatever their role; a
`shared` server's one connection is an operator's to make and remove.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Member
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.credentials.connections import SHARED, Connections
from giru.errors import CredentialsUnavailableError, PermissionDeniedError, ValidationError

__all__ = ["AuthorizationOut", "ConnectionList", "ConnectionOut", "router"]

_Server = Annotated[
    str, Path(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40, description="MCPServer")
]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class AuthorizationOut(_Model):
    authorization_url: str = Field(
        description="open in a browser: the authorization server's sign-in for this connection"
    )
    expires_in: int = Field(description="seconds the sign-in may take")


class ConnectionOut(_Model):
    server: str
    who: str = Field(description="the person who made it (`shared`: the shared connection)")
    subject: str
    scopes: list[str]
    expires_at: float = Field(description="when the access token expires (seconds since epoch)")
    connected_at: float
    refreshed_at: float | None
    status: str = Field(description="`connected`, or `needs_reconnect` (a refresh was refused)")
    refreshable: bool
    issuer: str
    client_id: str


class ConnectionList(_Model):
    items: list[ConnectionOut]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API, tags=["Connections"])
    member = ctx.auth.require_member()

    @api.post(
        "/servers/{name}/connections",
        response_model=AuthorizationOut,
        status_code=201,
        operation_id="startConnection",
        summary="Start a connection: the URL to open in a browser",
        responses=problems(401, 403, 404, 422, 503),
    )
    async def start(caller: Annotated[Member, Depends(member)], name: _Server) -> dict[str, Any]:
        connections = _connections(ctx)
        subject, label = _owner(connections, name, caller)
        url = await connections.flows.start(name, subject=subject, label=label, actor=caller.name)
        return {"authorizationUrl": url, "expiresIn": 600}

    @api.get(
        "/servers/{name}/connections",
        response_model=ConnectionList,
        operation_id="listConnections",
        summary="Connections to a server: who, scopes, expiry, last refresh, status (no tokens)",
        responses=problems(401, 403, 404, 422, 503),
    )
    async def list_connections(
        caller: Annotated[Member, Depends(member)],
        name: _Server,
        own: Annotated[
            bool, Query(description="only the caller's own (or the shared one)")
        ] = False,
    ) -> dict[str, Any]:
        connections = _connections(ctx)
        everyone = caller.holds("viewer") and not own
        own_subject = None if everyone else _owner(connections, name, caller, reading=True)[0]
        found = await connections.flows.list(name, actor=caller.name, subject=own_subject)
        return {"items": [c.public() for c in found]}

    @api.delete(
        "/servers/{name}/connections",
        status_code=204,
        response_class=Response,
        operation_id="deleteConnection",
        summary="Disconnect (the caller's own, the shared one, or `subject`'s for operators)",
        responses=problems(401, 403, 404, 422, 503),
    )
    async def disconnect(
        caller: Annotated[Member, Depends(member)],
        name: _Server,
        subject: Annotated[str | None, Query(max_length=320)] = None,
    ) -> Response:
        connections = _connections(ctx)
        if subject is not None and not caller.holds("operator"):
            raise PermissionDeniedError("removing another person's connection needs operator")
        owner = subject if subject is not None else _owner(connections, name, caller)[0]
        if not await connections.flows.disconnect(name, owner, actor=caller.name):
            raise ValidationError(f"there is no such connection to {name!r}")
        return Response(status_code=204)

    return api


def _connections(ctx: ApiContext) -> Connections:
    if ctx.connections is None:
        raise CredentialsUnavailableError("this process keeps no connections")
    return ctx.connections


def _owner(
    connections: Connections, server: str, caller: Member, *, reading: bool = False
) -> tuple[str, str]:
    """Whose connection the caller means: theirs (perUser) or the shared one (which anyone
    with a role may read, and an operator makes)."""
    if connections.tokens.per_user(server):
        if caller.subject is None or caller.label is None:
            raise ValidationError(
                f"{server!r} takes each person's own connection: sign in as yourself "
                "(giru login --sso), not with an admin key"
            )
        return caller.subject, caller.label
    if not caller.holds("viewer" if reading else "operator"):
        raise PermissionDeniedError(f"the shared connection to {server!r} is an operator's")
    return SHARED, caller.name
