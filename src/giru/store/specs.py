"""Specs in canonical form: validated by the manifest models, dumped back in camelCase.

Two canonical forms compare equal exactly when the specs mean the same thing, which is how the
store decides that a write is "unchanged".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pydantic
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from giru.errors import ValidationError
from giru.manifests.documents import API_VERSION, KINDS
from giru.manifests.problems import field_path, reason

__all__ = [
    "Problem",
    "bad_cursor",
    "canonical",
    "decode_cursor",
    "dump",
    "encode_cursor",
    "invalid",
    "ordered",
    "timestamp_text",
]

Problem = tuple[str, str]
"""A field path (`spec.servers[0]`) and a reason."""


def canonical(kind: str, name: str, spec: Any) -> BaseModel:
    """The validated spec model of `kind`, or `ValidationError` listing every problem."""
    model = KINDS.get(kind)
    if model is None:
        raise invalid(kind, name, [("kind", f"unknown kind; expected one of {', '.join(KINDS)}")])
    document = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    try:
        parsed = model.model_validate(document)
    except pydantic.ValidationError as exc:
        raise invalid(kind, name, [_problem(error) for error in exc.errors()]) from exc
    problems = parsed.spec.problems()
    if problems:
        raise invalid(kind, name, problems)
    return parsed.spec


def dump(spec: BaseModel) -> dict[str, Any]:
    """The canonical dict of a validated spec (what is stored and returned)."""
    return spec.model_dump(mode="json", by_alias=True)


def ordered(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (canonical camelCase keys) in the order the spec model declares its fields."""
    aliases = (info.alias or field for field, info in model.model_fields.items())
    return {alias: values[alias] for alias in aliases if alias in values}


def timestamp_text(value: datetime | None) -> str | None:
    """A UTC timestamp as the spec models serialise it (`...Z`)."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def invalid(kind: str, name: str, problems: Iterable[Problem]) -> ValidationError:
    """A `ValidationError` whose `data["errors"]` holds one `{field, reason}` per problem."""
    errors = [{"field": field, "reason": reason} for field, reason in problems]
    listed = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return ValidationError(f"{kind}/{name}: {listed}", data={"errors": errors})


def encode_cursor(position: Sequence[str]) -> str:
    """An opaque cursor for "after this sort key"."""
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    """The sort key a cursor of `encode_cursor` holds; `ValidationError` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad_cursor() from exc
    if (
        not isinstance(position, list)
        or len(position) != size
        or not all(isinstance(p, str) for p in position)
    ):
        raise bad_cursor()
    return position


def bad_cursor() -> ValidationError:
    """The error for a cursor this store did not hand out."""
    reason = "not a cursor returned by this listing"
    return ValidationError(
        f"cursor: {reason}", data={"errors": [{"field": "cursor", "reason": reason}]}
    )


def _problem(error: ErrorDetails) -> Problem:
    path, is_key = field_path(error["loc"])
    return path or "spec", ("key: " if is_key else "") + reason(error)
