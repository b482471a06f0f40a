"""`POST /api/v1/apply`: many manifest documents in one transaction, like `kubectl apply`.

Every document is validated first and every problem reported with its document index
(`errors: [{document, field, reason}]`, the field paths and reasons `giru apply` prints for the
same manifest); if any is invalid nothing is written. `dryRun=true`
reports what would happen and rolls back.
"""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import describe_errors, problems
from giru.api.resources import API
from giru.api.schemas import ApplyOut, ApplyRequest, Manifest
from giru.errors import ValidationError
from giru.manifests.documents import KINDS, Document
from giru.manifests.loader import check_document
from giru.store import Kind

__all__ = ["router"]


_MANIFEST: TypeAdapter[Document] = TypeAdapter(Manifest)


class _ApplyRoute(APIRoute):
    """Reports every problem of every document at once, each with its index in `documents`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise _invalid(_all_problems(exc.body, exc.errors())) from exc

        return route


def _all_problems(body: Any, errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI stops at invalid documents; validate each one alone to report everything."""
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list):
        return describe_errors(errors)
    found = describe_errors([e for e in errors if e["loc"][:2] != ("body", "documents")])
    valid: list[tuple[int, Document]] = []
    for index, raw in enumerate(documents):
        try:
            valid.append((index, _MANIFEST.validate_python(raw)))
        except PydanticValidationError as exc:
            found += _checked(index, raw, exc.errors())
    return sorted(found + _problems(valid), key=lambda e: e.get("document", -1))


def _checked(index: int, raw: Any, errors: Sequence[ErrorDetails]) -> list[dict[str, Any]]:
    """An invalid document's problems as `giru apply` prints them (the loader's check: the
    same paths and reasons, and the cross-field rules its valid fields break); pydantic's own
    where the loader finds nothing to say."""
    _, checked = check_document(raw)
    if isinstance(raw, dict) and checked:
        return [{"document": index, "field": path, "reason": why} for path, why in checked]
    return [_document_error(index, error) for error in errors]


def _document_error(index: int, error: ErrorDetails) -> dict[str, Any]:
    loc = error["loc"]
    if loc and loc[0] in KINDS:  # the discriminated union names the kind it tried
        loc = loc[1:]
    elif error["type"].startswith("union_tag"):
        loc = ("kind",)
    return {"document": index, **describe_errors([{**error, "loc": ("body", *loc)}])[0]}


def _problems(documents: Iterable[tuple[int, Document]]) -> list[dict[str, Any]]:
    """Cross-field problems of valid documents, and objects listed twice."""
    found: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, document in documents:
        name = document.metadata.name
        first = seen.setdefault((document.kind, name), index)
        if first != index:
            reason = f"{document.kind}/{name} is also document {first}"
            found.append({"document": index, "field": "metadata.name", "reason": reason})
        for field, reason in document.spec.problems():
            found.append({"document": index, "field": field, "reason": reason})
    return found


def _invalid(errors: list[dict[str, Any]]) -> ValidationError:
    documents = sorted({e["document"] for e in errors if "document" in e})
    where = f" in document(s) {', '.join(map(str, documents))}" if documents else ""
    message = f"{len(errors)} problem(s){where}; nothing applied"
    return ValidationError(message, data={"errors": errors})


def _batch(request: ApplyRequest) -> list[tuple[Kind, str, dict[str, Any]]]:
    """(kind, name, canonical spec) per document; 422 with every cross-field problem."""
    found = _problems(enumerate(request.documents))
    if found:
        raise _invalid(found)
    return [
        (d.kind, d.metadata.name, d.spec.model_dump(mode="json", by_alias=True))
        for d in request.documents
    ]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=API, route_class=_ApplyRoute)
    operator = ctx.auth.require("operator")

    @api.post(
        "/apply",
        response_model=ApplyOut,
        response_model_exclude_none=True,
        operation_id="apply",
        summary="Create or update many objects in one transaction (all or nothing)",
        tags=["Apply"],
        responses=problems(401, 403, 404, 409, 412, 413, 415, 422),
    )
    async def apply(
        principal: Annotated[Principal, Depends(operator)],
        body: ApplyRequest,
        dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    ) -> dict[str, Any]:
        applied = await ctx.store.apply(
            _batch(body), actor=principal.name, prune=body.prune, dry_run=dry_run
        )
        if not dry_run:
            ctx.committed()
        results = [
            {"kind": a.kind, "name": a.name, "action": a.action, "apiKey": a.api_key}
            for a in applied
        ]
        return {"results": results}

    return api
