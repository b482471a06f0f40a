"""Builds the control-plane REST API (FastAPI) over a `Store` and the running gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from giru.api import (
    admin,
    apply,
    audit,
    catalog,
    clients,
    policy,
    quotas,
    replay,
    resources,
    secrets,
    signin,
    subscriptions,
    trust,
    usage,
    users,
)
from giru.api import approvals as approval_routes
from giru.api import connections as connection_routes
from giru.api.auth import AdminAuth, RoleGroups, TokenAuthority
from giru.api.bodies import MAX_BODY_BYTES, BodyGuard
from giru.api.context import ApiContext, ApiRuntime, SignInOffer
from giru.api.problems import Problem, problem_handlers
from giru.approvals import ApprovalDesk
from giru.credentials import SecretStore
from giru.credentials.connections import Connections
from giru.identity.broker.trail import OAuthTrail
from giru.identity.revocations import Revocations
from giru.store import Store
from giru.trust import TrustTrail

__all__ = ["build_api"]

_DESCRIPTION = """\
The Giru control plane. Authenticate with an admin key: `Authorization: Bearer <key>`.
Roles: `viewer` reads, `operator` also writes (except admin keys), `admin` may do everything.
Every error is `application/problem+json` with a stable `code`.
"""


def build_api(
    store: Store,
    *,
    runtime: ApiRuntime,
    pepper: bytes,
    auth_ttl: float = 5.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    secrets_store: SecretStore | None = None,
    people: Callable[[], TokenAuthority | None] | None = None,
    groups: RoleGroups | None = None,
    revocations: Revocations | None = None,
    trail: OAuthTrail | None = None,
    connections: Connections | None = None,
    trace_url: str | None = None,
    tool_trail: TrustTrail | None = None,
    approvals: ApprovalDesk | None = None,
    sign_in: Callable[[], SignInOffer | None] | None = None,
) -> FastAPI:
    """The REST API, routing full paths (`/api/v1/...`, `/api/openapi.json`, `/api/docs`).

    Args:
        store: the source of truth; the caller opens and closes it.
        runtime: what only the running gateway knows (catalog sync, compiled client views)
            and how to tell it about committed writes.
        pepper: the secret the store keys admin key hashes with (`hmac_hash(token, pepper)`).
        auth_ttl: how long admin keys are cached, in seconds; writes through this API reload
            them immediately.
        max_body_bytes: larger request bodies are refused with 413.
        secrets_store: where `/api/v1/secrets` keeps secrets (None: those routes answer 503).
        people: the current verifier of people's OAuth access tokens (`giru login --sso`).
        groups: the IdP groups that grant API roles to people.
        revocations: this worker's revoked people (`POST /api/v1/users/{email}/revoke` applies
            a revocation here at once).
        trail: where identity events (a revocation) are audited.
        connections: people's OAuth connections to upstreams (None: those routes answer 503).
        trace_url: a trace's page in the tracing UI, `{trace_id}` in it (audit records link it).
        tool_trail: where tool trust decisions are audited.
        approvals: calls waiting for a person's approval (None: those routes answer 503).
        sign_in: the IdP people may sign in to the console at now (`GET /api/v1/sign-in`).
    """
    auth = AdminAuth(store, pepper, ttl=auth_ttl, people=people, groups=groups)
    ctx = ApiContext(
        store,
        runtime,
        auth,
        secrets_store,
        revocations,
        trail,
        connections,
        trace_url,
        tool_trail,
        approvals,
        sign_in,
    )
    modules = (
        resources,
        subscriptions,
        clients,
        catalog,
        usage,
        quotas,
        audit,
        policy,
        apply,
        admin,
        secrets,
        users,
        connection_routes,
        trust,
        approval_routes,
        replay,
        signin,
    )
    routers = [m.router(ctx) for m in modules]
    app = FastAPI(
        title="Giru control plane",
        version="v1",
        description=_DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        exception_handlers=problem_handlers([r for router in routers for r in router.routes]),
    )
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodyGuard, limit=max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented hook
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the `Problem` schema every error response refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
    return app.openapi_schema
