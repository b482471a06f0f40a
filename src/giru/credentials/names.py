"""What a secret may be called and hold: names safe in a URL path, a Vault path and a log line.

A name is 1-100 lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter or
digit, never with `..` in it (nor `/`: a name can never climb out of its place in Vault). A secret
holds up to 32 entries `key: value` (keys like a Kubernetes Secret's); its entries, as JSON, are at
most `max_bytes` (64 KiB by default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import orjson

from giru.errors import ValidationError
from giru.manifests.documents import SECRET_NAME_PATTERN

__all__ = [
    "DEFAULT_KEY",
    "MAX_ENTRIES",
    "NAME_PATTERN",
    "SecretTooLargeError",
    "check_entries",
    "check_name",
    "encode_entries",
]

NAME_PATTERN: Final = SECRET_NAME_PATTERN
DEFAULT_KEY: Final = "value"
"""The entry a secret reference reads when it names no `key`."""
MAX_ENTRIES: Final = 32
_NAME: Final = re.compile(NAME_PATTERN)
_KEY: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SecretTooLargeError(ValidationError):
    """The secret is larger than the configured maximum (answer 413)."""

    code = "secret_too_large"


def check_name(name: str) -> str:
    """`name` when it may name a secret; `ValidationError` saying why not."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValidationError(
            f"invalid secret name {name[:120]!r}: 1-100 lowercase letters, digits, '-', '_' and "
            "'.', starting and ending with a letter or digit, without '..'",
            data={"errors": [{"field": "name", "reason": "not a valid secret name"}]},
        )
    return name


def check_entries(entries: Mapping[str, str], max_bytes: int) -> bytes:
    """The entries as the JSON that is sealed; `ValidationError` / `SecretTooLargeError`."""
    if not entries:
        raise _invalid("data", "a secret holds at least one entry")
    if len(entries) > MAX_ENTRIES:
        raise _invalid("data", f"a secret holds at most {MAX_ENTRIES} entries")
    for key, value in entries.items():
        if not _KEY.fullmatch(key) or key in (".", ".."):
            raise _invalid(f"data.{key[:64]}", "a key is 1-64 letters, digits, '_', '.' or '-'")
        if not isinstance(value, str):
            raise _invalid(f"data.{key}", "a value is a string")
    encoded = encode_entries(entries)
    if len(encoded) > max_bytes:
        raise SecretTooLargeError(
            f"the secret is {len(encoded)} bytes; at most {max_bytes} are accepted "
            "(GIRU_SECRETS__MAX_BYTES)",
            data={"errors": [{"field": "data", "reason": f"larger than {max_bytes} bytes"}]},
        )
    return encoded


def encode_entries(entries: Mapping[str, str]) -> bytes:
    return orjson.dumps(dict(entries), option=orjson.OPT_SORT_KEYS)


def _invalid(field: str, reason: str) -> ValidationError:
    return ValidationError(
        f"{field}: {reason}", data={"errors": [{"field": field, "reason": reason}]}
    )
