"""Admin authentication for the REST API: `Authorization: Bearer <admin key>` and three roles.

The store keeps only HMAC-SHA256 hashes of admin keys (keyed by a server-side pepper). They are
cached in memory, refreshed at most every `ttl` seconds and right after a write through this API,
so a request costs one HMAC and a dict lookup rather than a database round trip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from giru.access.apikeys import hmac_hash
from giru.errors import PermissionDeniedError, UnauthenticatedError
from giru.store import AdminKeyInfo

__all__ = ["ROLES", "AdminAuth", "AdminKeySource", "Principal", "Role"]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
"""Each role may do everything the ones before it may: viewer reads, operator writes everything
but admin keys, admin manages admin keys too."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adminKey",
    bearerFormat="giru_...",
    description="An admin key (see `GIRU_ADMIN_TOKEN` and `/api/v1/admin-keys`).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class AdminKeySource(Protocol):
    """Where admin keys come from (the `Store`)."""

    async def admin_keys(self) -> Mapping[str, AdminKeyInfo]:
        """Every admin key by its `hmac-sha256:` hash."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin key's name (recorded as the actor of changes) and its role."""

    name: str
    role: Role


class AdminAuth:
    """Resolves bearer tokens to principals against a cached copy of the store's admin keys."""

    def __init__(
        self,
        store: AdminKeySource,
        pepper: bytes,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pepper = pepper
        self._ttl = ttl
        self._clock = clock
        self._keys: Mapping[str, AdminKeyInfo] = {}
        self._expires = float("-inf")
        self._generation = 0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Reload the keys on the next request (after a write through this API)."""
        self._generation += 1
        self._expires = float("-inf")

    async def principal(self, token: str | None) -> Principal:
        """The principal for `token`.

        Raises:
            UnauthenticatedError: no token, or not a current admin key.
        """
        if not token:
            raise UnauthenticatedError("send an admin key: Authorization: Bearer <key>")
        keys = await self._current()
        info = keys.get(hmac_hash(token, self._pepper))
        if info is None or info.revoked_at is not None or info.role not in ROLES:
            raise UnauthenticatedError("the bearer token is not a current admin key")
        return Principal(info.name, _role(info.role))

    def require(self, role: Role) -> Callable[[Credentials], Awaitable[Principal]]:
        """A FastAPI dependency: the caller, who must hold `role` or a higher one."""

        async def dependency(credentials: Credentials) -> Principal:
            principal = await self.principal(credentials.credentials if credentials else None)
            if ROLES.index(principal.role) < ROLES.index(role):
                raise PermissionDeniedError(
                    f"admin key {principal.name!r} has role {principal.role}; this needs {role}"
                )
            return principal

        return dependency

    async def _current(self) -> Mapping[str, AdminKeyInfo]:
        if self._clock() < self._expires:
            return self._keys
        async with self._lock:
            if self._clock() >= self._expires:  # not refreshed while this request waited
                generation = self._generation
                self._keys = await self._store.admin_keys()
                if generation == self._generation:  # else a write raced the read: reload again
                    self._expires = self._clock() + self._ttl
        return self._keys


def _role(value: str) -> Role:
    for role in ROLES:
        if role == value:
            return role
    raise UnauthenticatedError("the admin key has an unknown role")
