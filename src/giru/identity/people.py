"""A person as an access token names them: who (subject, email, name), their groups, and how and
when they signed in (`amr`, `auth_time`), read through an IdentityProvider's claims mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from giru.manifests.documents import IdentityClaims

__all__ = ["ClaimsError", "Person", "person_from_claims"]

_TEXT_MAX = 320
_LIST_MAX = 256


class ClaimsError(ValueError):
    """A token's claims do not describe a person (missing subject, wrong types, too big)."""


@dataclass(frozen=True, slots=True)
class Person:
    issuer: str
    subject: str
    email: str | None = None
    name: str | None = None
    groups: tuple[str, ...] = ()
    amr: tuple[str, ...] = ()
    """How they authenticated (RFC 8176: `pwd`, `otp`, `mfa`, `hwk`, ...)."""
    auth_time: int | None = None
    """When they signed in at the IdP (seconds since the epoch)."""

    @property
    def label(self) -> str:
        """How audit records, usage and limits name this person: the email, else the subject."""
        return self.email or self.subject


def person_from_claims(issuer: str, claims: Mapping[str, Any], mapping: IdentityClaims) -> Person:
    """The person `claims` describe; `ClaimsError` when they do not."""
    subject = _text(claims, mapping.subject, required=True)
    assert subject is not None
    return Person(
        issuer=issuer,
        subject=subject,
        email=_text(claims, mapping.email),
        name=_text(claims, mapping.name),
        groups=_strings(claims, mapping.groups),
        amr=_strings(claims, "amr"),
        auth_time=_epoch(claims, "auth_time"),
    )


def _text(claims: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = claims.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _TEXT_MAX:
        raise ClaimsError(f"claim {key!r} must be a string of 1-{_TEXT_MAX} characters")
    return value


def _strings(claims: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = claims.get(key)
    if value is None:
        return ()
    if isinstance(value, str):  # some IdPs send a single group as a string
        value = [value]
    if (
        not isinstance(value, list)
        or len(value) > _LIST_MAX
        or not all(isinstance(item, str) and 0 < len(item) <= _TEXT_MAX for item in value)
    ):
        raise ClaimsError(f"claim {key!r} must be a list of at most {_LIST_MAX} strings")
    return tuple(value)


def _epoch(claims: Mapping[str, Any], key: str) -> int | None:
    value = claims.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimsError(f"claim {key!r} must be a number of seconds since the epoch")
    return int(value)
