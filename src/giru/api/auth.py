"""Admin authentication for the REST API: `Authorization: Bearer <admin key or access token>`
and three roles.

The store keeps only HMAC-SHA256 hashes of admin keys (keyed by a server-side pepper). They are
cached in memory, refreshed at most every `ttl` seconds and right after a write through this API,
so a request costs one HMAC and a dict lookup rather than a database round trip.

A person signed in with the company IdP (`giru login --sso`) presents an OAuth access token whose
audience is the API (`<GIRU_PUBLIC_URL>/api`); their role comes from the IdP groups named in
`GIRU_IDENTITY__ADMIN_GROUP`, `__OPERATOR_GROUP` and `__VIEWER_GROUP` (the highest one they are in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from giru.access.apikeys import hmac_hash
from giru.errors import PermissionDeniedError, UnauthenticatedError
from giru.identity.tokens import AccessToken, TokenError
from giru.store import AdminKeyInfo

__all__ = [
    "API_PATH",
    "ROLES",
    "AdminAuth",
    "AdminKeySource",
    "Member",
    "Principal",
    "Role",
    "RoleGroups",
    "TokenAuthority",
]

API_PATH = "/api"
"""The API as an OAuth protected resource: access tokens for it have `aud` = base URL + this."""

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
"""Each role may do everything the ones before it may: viewer reads, operator writes everything
but admin keys, admin manages admin keys too."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adminKey",
    bearerFormat="giru_...",
    description="An admin key (see `GIRU_ADMIN_TOKEN` and `/api/v1/admin-keys`), or an OAuth "
    "access token for the API from `giru login --sso`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class AdminKeySource(Protocol):
    """Where admin keys come from (the `Store`)."""

    async def admin_keys(self) -> Mapping[str, AdminKeyInfo]:
        """Every admin key by its `hmac-sha256:` hash."""
        ...


class TokenAuthority(Protocol):
    """Verifies OAuth access tokens (the gateway's `ProtectedResource`)."""

    base_url: str

    async def authenticate(self, token: str, paths: Sequence[str]) -> AccessToken:
        """The verified token, valid for the endpoint at `paths`; `TokenError` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class RoleGroups:
    """The IdP groups whose members hold each role (None: no one does through a group)."""

    admin: str | None = None
    operator: str | None = None
    viewer: str | None = None

    def role(self, groups: Sequence[str]) -> Role | None:
        """The highest role `groups` grant, or None."""
        if self.admin is not None and self.admin in groups:
            return "admin"
        if self.operator is not None and self.operator in groups:
            return "operator"
        if self.viewer is not None and self.viewer in groups:
            return "viewer"
        return None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin key's name (recorded as the actor of changes) and its role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Member:
    """A caller who may act for themselves: `role` None for a person no group grants one;
    `subject` and `label` name the person (None for an admin key)."""

    name: str
    role: Role | None
    subject: str | None = None
    label: str | None = None

    def holds(self, role: Role) -> bool:
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)


class AdminAuth:
    """Resolves bearer tokens to principals against a cached copy of the store's admin keys."""

    def __init__(
        self,
        store: AdminKeySource,
        pepper: bytes,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        people: Callable[[], TokenAuthority | None] | None = None,
        groups: RoleGroups | None = None,
    ) -> None:
        """`people` returns the current verifier of OAuth access tokens (None while no
        IdentityProvider is configured); `groups` names the IdP groups that grant roles."""
        self._store = store
        self._authority = people or (lambda: None)
        self._groups = groups or RoleGroups()
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
        if info is None and token.count(".") == 2:  # a JWT: a person's access token
            return await self._person(token)
        if info is None or info.revoked_at is not None or info.role not in ROLES:
            raise UnauthenticatedError("the bearer token is not a current admin key")
        return Principal(info.name, _role(info.role))

    async def member(self, token: str | None) -> Member:
        """Any admin key, or any person signed in over OAuth whether a group grants them a
        role or not (for what people do for themselves: their own connections)."""
        if token and token.count(".") == 2:
            keys = await self._current()
            if hmac_hash(token, self._pepper) not in keys:
                verified, name = await self._verified(token)
                person = verified.person
                return Member(name, self._groups.role(person.groups), person.subject, person.label)
        principal = await self.principal(token)
        return Member(principal.name, principal.role)

    def require_member(self) -> Callable[[Credentials], Awaitable[Member]]:
        """A FastAPI dependency: the caller as `member` resolves them."""

        async def dependency(credentials: Credentials) -> Member:
            return await self.member(credentials.credentials if credentials else None)

        return dependency

    async def _person(self, token: str) -> Principal:
        verified, name = await self._verified(token)
        return Principal(name, self._role_of(name, verified))

    def _role_of(self, name: str, verified: AccessToken) -> Role:
        role = self._groups.role(verified.person.groups)
        if role is None:
            raise PermissionDeniedError(f"{name} is in no IdP group that grants an API role")
        return role

    async def _verified(self, token: str) -> tuple[AccessToken, str]:
        authority = self._authority()
        if authority is None:
            raise UnauthenticatedError("the bearer token is not a current admin key")
        try:
            verified = await authority.authenticate(token, (API_PATH,))
        except TokenError as exc:
            raise UnauthenticatedError(f"the access token is refused: {exc}") from exc
        if authority.base_url + API_PATH not in verified.audiences:  # a fixed audience (direct
            # mode) is accepted at MCP endpoints, never here: an agent's token is not an admin's
            raise UnauthenticatedError("the access token was issued for another resource (aud)")
        return verified, f"user:{verified.person.label}"

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
