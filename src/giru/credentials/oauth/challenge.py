"""The `Bearer` challenge of an upstream's 401/403 `WWW-Authenticate` header (RFC 6750 §3,
RFC 9728 §5.1): where its Protected Resource Metadata lives, which scopes it wants, what went
wrong (`insufficient_scope` asks for a step-up). Sans-IO."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["BearerChallenge", "parse_challenge"]

_PARAM: Final = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')
_SCHEME: Final = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?=\s|$|,)")
_MAX_HEADER: Final = 8192


@dataclass(frozen=True, slots=True)
class BearerChallenge:
    """What a `Bearer` challenge says (every field optional)."""

    resource_metadata: str | None = None
    """RFC 9728: the URL of the resource's Protected Resource Metadata."""
    scope: tuple[str, ...] = ()
    """The scopes the resource asks for (space-separated in the header)."""
    error: str | None = None
    """`invalid_token`, `insufficient_scope`, ..."""
    error_description: str | None = None


def parse_challenge(header: str | None) -> BearerChallenge | None:
    """The `Bearer` challenge in a `WWW-Authenticate` value, or None when it has none.

    Other schemes in the same header (`Basic realm=...`, `DPoP ...`) are skipped; parameter
    names are case-insensitive; quoted values may hold commas and escaped quotes.
    """
    if not header or len(header) > _MAX_HEADER:
        return None
    params = _bearer_params(header)
    if params is None:
        return None
    scope = params.get("scope")
    return BearerChallenge(
        resource_metadata=params.get("resource_metadata") or None,
        scope=tuple(scope.split()) if scope else (),
        error=params.get("error") or None,
        error_description=params.get("error_description") or None,
    )


def _bearer_params(header: str) -> dict[str, str] | None:
    schemes = list(_SCHEME.finditer(header))
    for index, match in enumerate(schemes):
        if match.group(1).lower() != "bearer":
            continue
        end = schemes[index + 1].start() if index + 1 < len(schemes) else len(header)
        return _params(header[match.end() : end])
    return None


def _params(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        found.setdefault(match.group(1).lower(), value)
        position = match.end()
    return found
