"""CRUD routes for the manifest kinds, built by one factory from a table of kinds.

`GET /api/v1/<kind>` lists (paginated, filtered), `POST` creates (201, `Location`, `ETag`),
`GET|PUT|DELETE /api/v1/<kind>/{name}` read, replace and delete (`If-Match` optional, 412 when
stale). Objects managed by a manifest file are read-only here (409 `managed_by_file`).
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.schemas import (
    NAME_PATTERN,
    Client,
    ClientCreated,
    ClientInput,
    ClientList,
    Environment,
    EnvironmentInput,
    EnvironmentList,
    IdentityProvider,
    IdentityProviderInput,
    IdentityProviderList,
    MCPServer,
    MCPServerInput,
    MCPServerList,
    Policy,
    PolicyInput,
    PolicyList,
    ResourceInput,
    Subscription,
    SubscriptionInput,
    SubscriptionList,
    VirtualServer,
    VirtualServerInput,
    VirtualServerList,
)
from giru.errors import ConflictError, PreconditionFailedError, ValidationError
from giru.manifests.documents import API_VERSION
from giru.store import Kind, Resource

__all__ = ["KINDS", "IfMatch", "ObjectName", "etag", "expected_version", "resource_body", "router"]

API = "/api/v1"
ObjectName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=40, description="object name")]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=64, description='`"<resourceVersion>"` from an ETag'),
]
_NameQuery = Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=40)]
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": '`"<resourceVersion>"`'}}


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header requires (None: any); 412 when it cannot match."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/")
    if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    raise PreconditionFailedError(f"If-Match {if_match!r} is not an ETag of this API")


def resource_body(resource: Resource) -> dict[str, Any]:
    """The wire form of a stored object (`apiVersion, kind, metadata, spec, status`)."""
    return {
        "apiVersion": API_VERSION,
        "kind": resource.kind,
        "metadata": {
            "name": resource.name,
            "uid": resource.uid,
            "resourceVersion": str(resource.version),
            "createdAt": resource.created_at,
            "updatedAt": resource.updated_at,
            "managedBy": resource.managed_by,
        },
        "spec": resource.spec,
        "status": resource.status,
    }


def writable(resource: Resource) -> None:
    """Refuse changes through the API to objects a manifest file owns."""
    if resource.managed_by.startswith("file:"):
        raise ConflictError(
            f"{resource.kind}/{resource.name} is managed by {resource.managed_by}; edit that file",
            code="managed_by_file",
        )


async def _server_body(body: MCPServerInput) -> ResourceInput:
    return body


async def _virtual_server_body(body: VirtualServerInput) -> ResourceInput:
    return body


async def _client_body(body: ClientInput) -> ResourceInput:
    return body


async def _subscription_body(body: SubscriptionInput) -> ResourceInput:
    return body


async def _environment_body(body: EnvironmentInput) -> ResourceInput:
    return body


async def _policy_body(body: PolicyInput) -> ResourceInput:
    return body


async def _identity_provider_body(body: IdentityProviderInput) -> ResourceInput:
    return body


async def _server_filters(
    transport: Literal["stdio", "sse", "streamable-http"] | None = None,
    health: Literal["healthy", "unhealthy", "unknown"] | None = None,
) -> dict[str, str]:
    return _present(transport=transport, health=health)


async def _subscription_filters(
    client: _NameQuery = None,
    server: _NameQuery = None,
    status: Literal["pending", "active", "suspended", "rejected", "expired"] | None = None,
    environment: _NameQuery = None,
) -> dict[str, str]:
    return _present(client=client, server=server, status=status, environment=environment)


async def _no_filters() -> dict[str, str]:
    return {}


def _present(**filters: str | None) -> dict[str, str]:
    return {key: value for key, value in filters.items() if value is not None}


@dataclass(frozen=True, slots=True)
class KindRoutes:
    """How one manifest kind appears in the API."""

    kind: Kind
    path: str
    singular: str
    body: Callable[..., Awaitable[ResourceInput]]
    out: type[BaseModel]
    page: type[BaseModel]
    created: type[BaseModel]
    filters: Callable[..., Awaitable[dict[str, str]]] = _no_filters

    @property
    def plural(self) -> str:
        if self.singular.endswith("y"):
            return self.singular[:-1] + "ies"
        return self.singular + "s"

    @property
    def one(self) -> str:
        """`an MCPServer`, `a Client`: for summaries."""
        return ("an " if self.kind[0] in "AEIOUM" else "a ") + self.kind


KINDS: tuple[KindRoutes, ...] = (
    KindRoutes(
        "MCPServer",
        "servers",
        "Server",
        _server_body,
        MCPServer,
        MCPServerList,
        MCPServer,
        _server_filters,
    ),
    KindRoutes(
        "VirtualServer",
        "virtual-servers",
        "VirtualServer",
        _virtual_server_body,
        VirtualServer,
        VirtualServerList,
        VirtualServer,
    ),
    KindRoutes(
        "Client",
        "clients",
        "Client",
        _client_body,
        Client,
        ClientList,
        ClientCreated,
    ),
    KindRoutes(
        "Subscription",
        "subscriptions",
        "Subscription",
        _subscription_body,
        Subscription,
        SubscriptionList,
        Subscription,
        _subscription_filters,
    ),
    KindRoutes(
        "Environment",
        "environments",
        "Environment",
        _environment_body,
        Environment,
        EnvironmentList,
        Environment,
    ),
    KindRoutes(
        "Policy",
        "policies",
        "Policy",
        _policy_body,
        Policy,
        PolicyList,
        Policy,
    ),
    KindRoutes(
        "IdentityProvider",
        "identity-providers",
        "IdentityProvider",
        _identity_provider_body,
        IdentityProvider,
        IdentityProviderList,
        IdentityProvider,
    ),
)
"""Every manifest kind, in the order the OpenAPI document lists them."""


def router(ctx: ApiContext) -> APIRouter:
    """The CRUD routes of every kind in `KINDS`."""
    api = APIRouter(prefix=API)
    for routes in KINDS:
        _add_list(api, ctx, routes)
        _add_create(api, ctx, routes)
        _add_get(api, ctx, routes)
        _add_replace(api, ctx, routes)
        _add_delete(api, ctx, routes)
    return api


def _spec(document: ResourceInput) -> dict[str, Any]:
    """The canonical spec of a validated document; 422 for its cross-field problems."""
    found = document.spec.problems()
    if found:
        errors = [{"field": field, "reason": reason} for field, reason in found]
        raise ValidationError(f"{len(errors)} invalid field(s)", data={"errors": errors})
    spec: dict[str, Any] = document.spec.model_dump(mode="json", by_alias=True)
    return spec


def _add_list(api: APIRouter, ctx: ApiContext, routes: KindRoutes) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        f"/{routes.path}",
        response_model=routes.page,
        operation_id=f"list{routes.plural}",
        summary=f"List {routes.kind} objects",
        tags=[routes.plural],
        responses=problems(401, 403, 422),
    )
    async def list_objects(
        principal: Annotated[Principal, Depends(viewer)],
        filters: Annotated[dict[str, str], Depends(routes.filters)],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
        name: Annotated[str | None, Query(max_length=40, description="name prefix")] = None,
    ) -> dict[str, Any]:
        if name is not None:
            filters = {**filters, "name": name}
        page = await ctx.store.list(routes.kind, limit=limit, cursor=cursor, filters=filters)
        items = [resource_body(resource) for resource in page.items]
        return {"items": items, "nextCursor": page.next_cursor}


def _add_create(api: APIRouter, ctx: ApiContext, routes: KindRoutes) -> None:
    operator = ctx.auth.require("operator")
    created = {"description": "Created", "headers": {**_ETAG, "Location": {"schema": {}}}}

    @api.post(
        f"/{routes.path}",
        status_code=201,
        response_model=routes.created,
        operation_id=f"create{routes.singular}",
        summary=f"Create {routes.one}",
        tags=[routes.plural],
        responses={201: created, **problems(401, 403, 409, 413, 415, 422)},
    )
    async def create_object(
        principal: Annotated[Principal, Depends(operator)],
        document: Annotated[ResourceInput, Depends(routes.body)],
        response: Response,
    ) -> dict[str, Any]:
        name = document.metadata.name
        resource, key = await ctx.store.create(
            routes.kind, name, _spec(document), actor=principal.name
        )
        ctx.committed()
        response.headers["Location"] = f"{API}/{routes.path}/{name}"
        response.headers["ETag"] = etag(resource.version)
        body = resource_body(resource)
        if routes.kind == "Client":
            body["apiKey"] = key
        return body


def _add_get(api: APIRouter, ctx: ApiContext, routes: KindRoutes) -> None:
    viewer = ctx.auth.require("viewer")

    @api.get(
        f"/{routes.path}/{{name}}",
        response_model=routes.out,
        operation_id=f"get{routes.singular}",
        summary=f"Read {routes.one}",
        tags=[routes.plural],
        responses={200: {"headers": _ETAG}, **problems(401, 403, 404, 422)},
    )
    async def get_object(
        principal: Annotated[Principal, Depends(viewer)], name: ObjectName, response: Response
    ) -> dict[str, Any]:
        resource = await ctx.store.get(routes.kind, name)
        response.headers["ETag"] = etag(resource.version)
        return resource_body(resource)


def _add_replace(api: APIRouter, ctx: ApiContext, routes: KindRoutes) -> None:
    operator = ctx.auth.require("operator")

    @api.put(
        f"/{routes.path}/{{name}}",
        response_model=routes.out,
        operation_id=f"replace{routes.singular}",
        summary=f"Replace the spec of {routes.one}",
        tags=[routes.plural],
        responses={200: {"headers": _ETAG}, **problems(401, 403, 404, 409, 412, 413, 415, 422)},
    )
    async def replace_object(
        principal: Annotated[Principal, Depends(operator)],
        name: ObjectName,
        document: Annotated[ResourceInput, Depends(routes.body)],
        response: Response,
        if_match: IfMatch = None,
    ) -> dict[str, Any]:
        if document.metadata.name != name:
            reason = f"must be {name!r}, the name in the path"
            errors = [{"field": "metadata.name", "reason": reason}]
            raise ValidationError("metadata.name differs from the path", data={"errors": errors})
        version = expected_version(if_match)
        writable(await ctx.store.get(routes.kind, name))
        spec = _spec(document)
        resource = await ctx.store.replace(
            routes.kind, name, spec, actor=principal.name, expected_version=version
        )
        ctx.committed()
        response.headers["ETag"] = etag(resource.version)
        return resource_body(resource)


def _add_delete(api: APIRouter, ctx: ApiContext, routes: KindRoutes) -> None:
    operator = ctx.auth.require("operator")

    @api.delete(
        f"/{routes.path}/{{name}}",
        status_code=204,
        response_class=Response,
        operation_id=f"delete{routes.singular}",
        summary=f"Delete {routes.one}",
        tags=[routes.plural],
        responses=problems(401, 403, 404, 409, 412, 422),
    )
    async def delete_object(
        principal: Annotated[Principal, Depends(operator)],
        name: ObjectName,
        if_match: IfMatch = None,
    ) -> Response:
        version = expected_version(if_match)
        writable(await ctx.store.get(routes.kind, name))
        await ctx.store.delete(routes.kind, name, actor=principal.name, expected_version=version)
        ctx.committed()
        return Response(status_code=204)
