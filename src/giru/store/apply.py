"""Applying a set of documents in one transaction, like `kubectl apply` (optionally pruning).

Every document is validated first; then kinds are written in dependency order so a document
may reference one created by the same apply. Validation problems of all documents are reported
together (`data["errors"]` items carry the document's index); any problem aborts the apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from giru.errors import ConflictError, GiruError, ValidationError
from giru.store.database import Tx
from giru.store.kinds import find_row
from giru.store.records import APPLY_ORDER, Applied, Kind
from giru.store.resources import adapter, insert, remove, update
from giru.store.specs import canonical

__all__ = ["apply_documents"]

_FILE = "file:"


@dataclass(frozen=True, slots=True)
class _Document:
    index: int
    kind: Kind
    name: str
    model: BaseModel


async def apply_documents(
    tx: Tx,
    documents: Sequence[tuple[Kind, str, Any]],
    *,
    managed_by: str,
    prune: bool,
    adopt: bool = False,
) -> list[Applied]:
    """Create or configure every document, then (with `prune`) delete what `managed_by`
    owns and the documents no longer list. Results in document order, deletions last.

    An object another manifest directory manages is refused (`managed_by_file`), unless
    `adopt`: then `managed_by` takes it over, and pruning covers every directory's objects
    (what `giru run --adopt` does after the configuration directory moved)."""
    parsed = _parse(documents)
    errors: list[dict[str, Any]] = []
    results: dict[int, Applied] = {}
    for kind in APPLY_ORDER:
        for document in (d for d in parsed if d.kind == kind):
            try:
                results[document.index] = await _apply_one(tx, document, managed_by, adopt)
            except ValidationError as exc:
                errors += _located(document.index, exc)
            except GiruError as exc:
                exc.data.setdefault("document", document.index)
                raise
    if errors:
        raise _failed(errors)
    deleted = await _prune(tx, parsed, managed_by, adopt) if prune else []
    return [results[i] for i in sorted(results)] + deleted


def _parse(documents: Sequence[tuple[Kind, str, Any]]) -> list[_Document]:
    parsed: list[_Document] = []
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, (kind, name, spec) in enumerate(documents):
        first = seen.setdefault((kind, name), index)
        if first != index:
            reason = f"{kind}/{name} is also document {first}"
            errors.append({"document": index, "field": "metadata.name", "reason": reason})
            continue
        try:
            parsed.append(_Document(index, kind, name, canonical(kind, name, spec)))
        except ValidationError as exc:
            errors += _located(index, exc)
    if errors:
        raise _failed(errors)
    return parsed


async def _apply_one(tx: Tx, document: _Document, managed_by: str, adopt: bool) -> Applied:
    kind = adapter(document.kind)
    row = await find_row(tx.session, tx.tenant_id, kind.row, document.name, kind.options())
    if row is None:
        _, api_key = await insert(tx, kind, document.name, document.model, managed_by)
        return Applied(document.kind, document.name, "created", api_key)
    owner: str = row.managed_by
    if owner != managed_by and owner.startswith(_FILE) and not adopt:
        message = f"{document.kind}/{document.name} is managed by {owner}" + _hint(managed_by)
        raise ConflictError(message, code="managed_by_file", data={"managedBy": owner})
    changed = await update(tx, kind, row, document.model, managed_by)
    return Applied(document.kind, document.name, "configured" if changed else "unchanged")


def _hint(managed_by: str) -> str:
    """How to take the objects over, for the one who applies from a directory of its own."""
    if not managed_by.startswith(_FILE):
        return "; edit that file"
    return (
        f"; if that directory was moved or renamed, start once with "
        f"`giru run --config {managed_by.removeprefix(_FILE)} --adopt` to take its objects over"
    )


async def _prune(tx: Tx, parsed: list[_Document], managed_by: str, adopt: bool) -> list[Applied]:
    listed = {(d.kind, d.name) for d in parsed}
    deleted: list[Applied] = []
    for kind_name in reversed(APPLY_ORDER):
        kind = adapter(kind_name)
        owned = (
            kind.row.managed_by.startswith(_FILE) if adopt else kind.row.managed_by == managed_by
        )
        query = (
            select(kind.row)
            .where(kind.row.tenant_id == tx.tenant_id, owned)
            .order_by(kind.row.name)
            .options(*kind.options())
        )
        for row in list(await tx.session.scalars(query)):
            if (kind_name, row.name) not in listed:
                await remove(tx, kind, row)
                deleted.append(Applied(kind_name, row.name, "deleted"))
    return deleted


def _located(index: int, exc: ValidationError) -> list[dict[str, Any]]:
    errors = exc.data.get("errors") or [{"field": "spec", "reason": exc.message}]
    return [{"document": index, **error} for error in errors]


def _failed(errors: list[dict[str, Any]]) -> ValidationError:
    errors = sorted(errors, key=lambda error: int(error["document"]))
    lines = [f"document {e['document']}: {e['field']}: {e['reason']}" for e in errors]
    return ValidationError(
        f"{len(errors)} problem(s); nothing was applied:\n" + "\n".join(lines),
        data={"errors": errors},
    )
