"""What Giru hands out: access tokens (ES256 JWTs), and codes and refresh tokens (random
strings stored only as their SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from giru.identity.people import Person

__all__ = ["AccessToken", "access_claims", "digest", "new_secret"]

CODE_PREFIX: Final = "giru_ac_"
REFRESH_PREFIX: Final = "giru_rt_"
SECRET_PREFIX: Final = "giru_cs_"  # noqa: S105 - a prefix, not a secret


def new_secret(prefix: str) -> str:
    """A new code, refresh token or client secret (256 random bits; the prefix tells a
    secret scanner what it is)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How secrets are stored and logged: SHA-256, hex (they are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessToken:
    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])


def access_claims(
    *,
    issuer: str,
    resource: str,
    person: Person,
    client_id: str,
    scope: str,
    now: datetime,
    ttl_s: int,
) -> AccessToken:
    """The claims of an access token for `resource` (its `aud`), as the resource side expects.
    `iat` keeps milliseconds (a JWT NumericDate may be fractional), so a revocation and a sign-in
    within the same second stay in order."""
    issued = int(now.timestamp())
    return AccessToken(
        {
            "iss": issuer,
            "aud": resource,
            "sub": person.subject,
            "email": person.email,
            "name": person.name,
            "groups": list(person.groups),
            "amr": list(person.amr),
            "auth_time": person.auth_time,
            "client_id": client_id,
            "scope": scope,
            "iat": round(now.timestamp(), 3),
            "exp": issued + ttl_s,
            "jti": str(uuid.uuid4()),
        }
    )
