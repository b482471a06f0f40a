"""Admin key authentication: the cache of hashed keys, refreshes, roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from fastapi.security import HTTPAuthorizationCredentials

from giru.access.apikeys import hmac_hash
from giru.api.auth import AdminAuth, Principal, Role, RoleGroups
from giru.errors import PermissionDeniedError, UnauthenticatedError
from giru.identity.people import Person
from giru.identity.tokens import AccessToken
from giru.store import AdminKeyInfo

PEPPER = b"unit-pepper"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Keys:
    """The admin keys a store would hold, and how often they were read."""

    def __init__(self) -> None:
        self.by_hash: dict[str, AdminKeyInfo] = {}
        self.reads = 0

    def add(self, name: str, token: str, role: str) -> None:
        self.by_hash[hmac_hash(token, PEPPER)] = AdminKeyInfo(name, role, NOW)

    async def admin_keys(self) -> Mapping[str, AdminKeyInfo]:
        self.reads += 1
        return dict(self.by_hash)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys() -> Keys:
    found = Keys()
    found.add("ops", "token-ops", "operator")
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(keys: Keys, clock: Clock) -> AdminAuth:
    return AdminAuth(keys, PEPPER, ttl=5.0, clock=clock)


async def test_a_known_token_resolves_to_its_key(auth: AdminAuth) -> None:
    assert await auth.principal("token-ops") == Principal("ops", "operator")


@pytest.mark.parametrize("token", [None, "", "token-unknown"])
async def test_missing_or_unknown_tokens_are_unauthenticated(
    auth: AdminAuth, token: str | None
) -> None:
    with pytest.raises(UnauthenticatedError):
        await auth.principal(token)


async def test_keys_are_read_once_per_ttl(auth: AdminAuth, keys: Keys, clock: Clock) -> None:
    for _ in range(3):
        await auth.principal("token-ops")
    clock.now += 5.0
    await auth.principal("token-ops")

    assert keys.reads == 2


async def test_a_key_added_elsewhere_works_after_the_ttl(
    auth: AdminAuth, keys: Keys, clock: Clock
) -> None:
    await auth.principal("token-ops")
    keys.add("ci", "token-ci", "viewer")

    with pytest.raises(UnauthenticatedError):
        await auth.principal("token-ci")
    clock.now += 5.0
    assert await auth.principal("token-ci") == Principal("ci", "viewer")


async def test_invalidate_reloads_on_the_next_request(auth: AdminAuth, keys: Keys) -> None:
    await auth.principal("token-ops")
    keys.by_hash.clear()

    auth.invalidate()

    with pytest.raises(UnauthenticatedError):
        await auth.principal("token-ops")


async def test_keys_with_an_unknown_role_are_refused(auth: AdminAuth, keys: Keys) -> None:
    keys.add("odd", "token-odd", "superuser")

    with pytest.raises(UnauthenticatedError):
        await auth.principal("token-odd")


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("viewer", "viewer", True),
        ("viewer", "operator", False),
        ("operator", "operator", True),
        ("operator", "admin", False),
        ("admin", "operator", True),
        ("admin", "admin", True),
    ],
)
async def test_roles_include_the_ones_below_them(
    auth: AdminAuth, keys: Keys, role: Role, needed: Role, allowed: bool
) -> None:
    keys.add("someone", "token-someone", role)
    dependency = auth.require(needed)
    credentials = _bearer("token-someone")

    if allowed:
        assert (await dependency(credentials)).role == role
    else:
        with pytest.raises(PermissionDeniedError):
            await dependency(credentials)


def _bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def test_idp_groups_grant_the_highest_role_their_member_holds() -> None:
    groups = RoleGroups(admin="admins", operator="ops", viewer="auditors")
    assert groups.role(["auditors", "ops"]) == "operator"
    assert groups.role(["admins", "auditors"]) == "admin"
    assert groups.role(["auditors"]) == "viewer"
    assert groups.role(["nurses"]) is None
    assert RoleGroups().role(["admins"]) is None  # no group named: no role through groups


async def test_a_jwt_is_refused_while_no_identity_provider_verifies_tokens() -> None:
    auth = AdminAuth(Keys(), PEPPER)
    with pytest.raises(UnauthenticatedError, match="not a current admin key"):
        await auth.principal("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")


class Authority:
    """Stands in for the gateway's ProtectedResource: every token verifies to `token`."""

    base_url = "https://giru.example"

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    async def authenticate(self, token: str, paths: Sequence[str]) -> AccessToken:
        return self.token


def _token(audience: str, groups: tuple[str, ...] = ("admins",)) -> AccessToken:
    person = Person("https://idp.example", "sub-1", "carol@example.com", groups=groups)
    return AccessToken(person, "agent", frozenset(), (audience,), 2e9, "hash")


async def test_a_person_in_the_admin_group_is_an_admin() -> None:
    authority = Authority(_token("https://giru.example/api"))
    auth = AdminAuth(Keys(), PEPPER, people=lambda: authority, groups=RoleGroups(admin="admins"))
    assert await auth.principal("a.b.c") == Principal("user:carol@example.com", "admin")


async def test_a_token_with_an_audience_other_than_the_api_is_refused() -> None:
    authority = Authority(_token("api://mcp-gateway"))  # a direct IdP's fixed MCP audience
    auth = AdminAuth(Keys(), PEPPER, people=lambda: authority, groups=RoleGroups(admin="admins"))
    with pytest.raises(UnauthenticatedError, match="another resource"):
        await auth.principal("a.b.c")
