"""Every error of the REST API as `application/problem+json` (RFC 9457), mapped in one place.

`GiruError` subclasses map by their stable `code`; FastAPI's request validation errors become
`validation_failed` with one `{field, reason}` per problem; Starlette's HTTP errors (unknown
route, wrong method, body limits) keep their status and get a code of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from giru.errors import GiruError
from giru.manifests.problems import field_path, reason

__all__ = [
    "PROBLEM_JSON",
    "FieldProblem",
    "Problem",
    "describe_errors",
    "problem_handlers",
    "problem_response",
    "problems",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://giru.dev/problems/"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="giru"'}
_log = structlog.get_logger(__name__)
Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]

STATUS_BY_CODE: Mapping[str, int] = {
    "validation_failed": 422,
    "config_invalid": 422,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "already_exists": 409,
    "in_use": 409,
    "invalid_transition": 409,
    "approval_required": 409,
    "approval_decided": 409,
    "managed_by_file": 409,
    "managed_by_spec": 409,
    "precondition_failed": 412,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "upstream_error": 502,
    "upstream_protocol_error": 502,
    "upstream_unavailable": 503,
    "upstream_timeout": 504,
    "store_unavailable": 503,
    "policy_unavailable": 503,
    "credentials_unavailable": 503,
    "secret_too_large": 413,
}
_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}
_DESCRIPTIONS = {
    401: "No valid admin key (`Authorization: Bearer <key>`)",
    403: "The admin key's role does not allow this",
    404: "No such object",
    409: "Conflicts with the current state (see `code`)",
    412: "`If-Match` names a version that is not the current one",
    413: "The request body is larger than 1 MiB",
    415: "The request body is not JSON",
    422: "The request is invalid; `errors` lists every problem",
    502: "The upstream server answered with something that is not MCP",
    503: "A dependency is unavailable (an upstream server, the store, the policy engine, the "
    "secret backend)",
    504: "The upstream server did not answer in time",
}


class FieldProblem(BaseModel):
    """One invalid field: a camelCase path such as `spec.scopeTools[0]` and why."""

    model_config = ConfigDict(extra="forbid")

    document: int | None = Field(
        default=None, description="index of the document in an apply request"
    )
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is stable and documented, `detail` is for humans."""

    type: str = Field(examples=[_TYPE_BASE + "not_found"])
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The problem+json response for `code` (401 responses always carry the Bearer challenge)."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + code,
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [dict(error) for error in errors]
    merged = {**(headers or {}), **(_CHALLENGE if status == 401 else {})}
    return JSONResponse(body, status_code=status, headers=merged, media_type=PROBLEM_JSON)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries declaring these statuses as problem+json."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
            }
        declared[status] = entry
    return declared


def describe_errors(errors: Sequence[ErrorDetails]) -> list[dict[str, Any]]:
    """`{field, reason}` for each pydantic/FastAPI error (request bodies lose their `body.`)."""
    return [
        {
            "field": "body" if error["type"] == "json_invalid" else _field(error["loc"]),
            "reason": reason(error),
        }
        for error in errors
    ]


def _field(loc: tuple[int | str, ...]) -> str:
    path, _ = field_path(loc[1:] if loc and loc[0] == "body" else loc)
    return path or "body"


async def _giru_error(_: Request, exc: GiruError) -> Response:
    status = STATUS_BY_CODE.get(exc.code, 500)
    if status == 500:
        _log.error("api_internal_error", code=exc.code, error=exc.message)
    errors = exc.data.get("errors")
    return problem_response(
        status, exc.code, exc.message, errors=errors if isinstance(errors, list) else None
    )


async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
    errors = describe_errors(list(exc.errors()))
    detail = f"{len(errors)} invalid field(s): " + ", ".join(e["field"] for e in errors[:5])
    return problem_response(422, "validation_failed", detail, errors=errors)


def _http_error(routes: Sequence[BaseRoute]) -> Handler:
    async def handler(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI's only 400: a body that is not UTF-8 JSON
            errors = [{"field": "body", "reason": "not a UTF-8 JSON document"}]
            return problem_response(422, "validation_failed", str(exc.detail), errors=errors)
        code = _CODE_BY_STATUS.get(exc.status_code, f"http_{exc.status_code}")
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() != "www-authenticate"}
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(routes, request.scope)
        return problem_response(exc.status_code, code, str(exc.detail), headers=headers)

    return handler


def _allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _unexpected(_: Request, exc: Exception) -> Response:
    _log.exception("api_unhandled_error", error_type=type(exc).__name__)
    return problem_response(500, "internal", "internal error; see the server log")


def problem_handlers(routes: Sequence[BaseRoute]) -> dict[int | type[Exception], Handler]:
    """`FastAPI(exception_handlers=...)`: every error the API can raise, as problem+json.

    `routes` are every route of the API, to name all the methods a path allows in 405s.
    """
    return {
        GiruError: _giru_error,
        RequestValidationError: _validation_error,
        HTTPException: _http_error(routes),
        Exception: _unexpected,
    }
