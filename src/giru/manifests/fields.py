"""Field types every manifest kind shares: names, durations, claims, secret references' names,
and the base model (camelCase, strict, nothing unknown)."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

API_VERSION = "giru.ai/v1alpha1"

Problem = tuple[str, str]
"""A field path (camelCase, dotted) and a reason."""

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAME_MAX = 40
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # as the catalog accepts (catalog/names.py)
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")  # a pack name, a claim key
_CLAIM_TEXT_MAX = 1024
_CLAIM_LIST_MAX = 64
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_.]{0,98}[a-z0-9])?$"  # noqa: S105 -- a pattern
"""A secret's name (giru.credentials): no `/`, no `..`, safe in a URL and a Vault path."""
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN)
_SECRET_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _name(value: str) -> str:
    if len(value) > _NAME_MAX:
        raise ValueError(f"must be at most {_NAME_MAX} characters")
    if not _NAME.fullmatch(value):
        raise ValueError(
            "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


def _tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise ValueError("a tag is 1-63 characters of letters, digits and _ . : / -")
    return value


def _tool_name(value: str) -> str:
    if not _TOOL_NAME.fullmatch(value):
        raise ValueError("a tool name is 1-128 characters of letters, digits and _ . -")
    return value


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError("must be 1-63 lowercase letters, digits and '_', starting with a letter")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError("must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `2m`, `500ms`, `1h`, `1.5s` or a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a duration such as 30s, 2m, 500ms or a number of seconds")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError("must be a duration such as 30s, 2m, 500ms or a number of seconds")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


Name = Annotated[str, AfterValidator(_name)]
Tag = Annotated[str, AfterValidator(_tag)]
ToolName = Annotated[str, AfterValidator(_tool_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Identifier = Annotated[
    str,
    AfterValidator(_identifier),
    WithJsonSchema({"type": "string", "pattern": f"^{_IDENTIFIER.pattern}$"}),
]
ClaimText = Annotated[str, Field(max_length=_CLAIM_TEXT_MAX)]
ClaimValue = (
    ClaimText
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | Annotated[list[ClaimText], Field(max_length=_CLAIM_LIST_MAX)]
)
Duration = Annotated[float, BeforeValidator(parse_duration)]


def _secret_name(value: str) -> str:
    if not _SECRET_NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            "a secret name is 1-100 lowercase letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit, without '..'"
        )
    return value


def _secret_key(value: str) -> str:
    if not _SECRET_KEY.fullmatch(value) or value in (".", ".."):
        raise ValueError("a secret's key is 1-64 letters, digits, '_', '.' or '-'")
    return value


SecretName = Annotated[
    str,
    AfterValidator(_secret_name),
    WithJsonSchema({"type": "string", "pattern": SECRET_NAME_PATTERN, "maxLength": 100}),
]
SecretKey = Annotated[
    str,
    AfterValidator(_secret_key),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}),
]


class SpecModel(BaseModel):
    """A manifest object: camelCase fields, nothing unknown, strict types, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, strict=True, populate_by_name=False
    )
