"""The authorization server's rows over a real SQLite store: signing keys (rotated, published,
sealed at rest), registrations (expire unused, purged) and a person's refresh families."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from giru.errors import ConfigError
from giru.identity import UnknownKeyError
from giru.identity.broker.clients import parse_registration
from giru.identity.broker.keys import KeyRing, LocalKeySource
from giru.identity.broker.sealing import Sealer
from giru.identity.broker.storage import CodeGrant, OAuthStore
from giru.identity.people import Person
from giru.store import Database
from giru.store.models import OAuthSigningKeyRow

pytestmark = pytest.mark.integration

KEK = bytes(range(32))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OAuthStore]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}")
    await database.migrate()
    try:
        yield await OAuthStore.open(database)
    finally:
        await database.aclose()


async def test_a_rotation_keeps_the_previous_key_published(store: OAuthStore) -> None:
    ring = KeyRing(store, Sealer(KEK), rotation=timedelta(days=30))
    old = await ring.sign({"sub": "a"}, T0)
    first = await ring.published(T0)
    assert len(first["keys"]) == 1
    later = T0 + timedelta(days=31)
    new = await ring.sign({"sub": "b"}, later)
    published = await ring.published(later)
    kids = [key["kid"] for key in published["keys"]]
    assert len(kids) == 2
    assert jwt.get_unverified_header(old)["kid"] in kids
    assert jwt.get_unverified_header(new)["kid"] == kids[0]
    source = LocalKeySource(ring)
    for token in (old, new):
        key = await source.key(jwt.get_unverified_header(token)["kid"])
        assert isinstance(key.key, ec.EllipticCurvePublicKey)
        assert jwt.decode(token, key.key, algorithms=["ES256"])["sub"] in ("a", "b")
    await ring.sign({"sub": "c"}, later + timedelta(days=31))
    retired = jwt.get_unverified_header(old)["kid"]
    assert retired not in [k["kid"] for k in (await ring.published(later))["keys"]]
    with pytest.raises(UnknownKeyError):
        await source.key("no-such-kid")


async def test_private_keys_are_stored_only_sealed(store: OAuthStore) -> None:
    ring = KeyRing(store, Sealer(KEK), rotation=timedelta(days=30))
    await ring.sign({"sub": "a"}, T0)
    async with store.database.read() as session:
        rows = list(await session.scalars(select(OAuthSigningKeyRow)))
    assert len(rows) == 1
    assert "PRIVATE KEY" not in rows[0].sealed_private_key
    assert "d" not in rows[0].public_jwk
    stranger = KeyRing(store, Sealer(bytes(32)), rotation=timedelta(days=30))
    with pytest.raises(ConfigError, match="key-encryption key"):
        await stranger.sign({"sub": "a"}, T0)


async def test_an_unused_registration_expires_and_is_purged(store: OAuthStore) -> None:
    registration = parse_registration({"redirect_uris": ["http://127.0.0.1:1/cb"]})
    expiry = T0 + timedelta(days=1)
    await store.register(
        "giru_client_x", registration, secret_hash=None, source_ip="127.0.0.1", now=T0,
        expires_at=expiry,
    )  # fmt: skip
    assert await store.client("giru_client_x", T0) is not None
    assert await store.client("giru_client_x", expiry) is None
    await store.client_used("giru_client_x", T0)  # used: it no longer expires
    assert await store.client("giru_client_x", expiry) is not None
    await store.register(
        "giru_client_y", registration, secret_hash=None, source_ip="127.0.0.1", now=T0,
        expires_at=expiry,
    )  # fmt: skip
    assert await store.purge(expiry) == 1
    assert await store.registrations_since("127.0.0.1", T0) == 1


def _grant(person: Person, idp_refresh_token: str | None = None) -> CodeGrant:
    return CodeGrant(
        client_id="app",
        redirect_uri="http://127.0.0.1:1/cb",
        code_challenge="x" * 43,
        resource="http://giru.test/mcp",
        scope="mcp",
        person=person,
        expires_at=T0 + timedelta(minutes=1),
        idp_refresh_token=idp_refresh_token,
    )


async def test_a_person_s_families_are_revoked_together_and_others_are_left(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}")
    await database.migrate()
    try:
        store = await OAuthStore.open(database, Sealer(KEK))
        alice = Person("https://idp.test", "sub-alice", "alice@hospital.example")
        bob = Person("https://idp.test", "sub-bob", "bob@hospital.example")
        ttl = timedelta(days=1)
        first = await store.open_family(None, _grant(alice, "idp-rt-1"), "h1", T0, ttl)
        second = await store.open_family(None, _grant(alice), "h2", T0, ttl)
        other = await store.open_family(None, _grant(bob), "h3", T0, ttl)
        assert first.idp_refresh_token == "idp-rt-1"
        revoked = await store.revoke_person("alice@hospital.example", "admin", T0)
        assert sorted(revoked) == sorted([first.id, second.id])
        assert await store.family_revoked(first.id)
        assert not await store.family_revoked(other.id)
        seen = {p.label: p for p in await store.people()}
        assert seen["alice@hospital.example"].families == 2
        assert seen["alice@hospital.example"].active_families == 0
        assert seen["bob@hospital.example"].active_families == 1
    finally:
        await database.aclose()


async def test_a_person_s_sign_in_is_their_latest_live_family_holding_an_idp_refresh_token(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}")
    await database.migrate()
    try:
        store = await OAuthStore.open(database, Sealer(KEK))
        alice = Person("https://idp.test", "sub-alice", "alice@hospital.example")
        ttl = timedelta(days=1)
        assert await store.sign_in_of("sub-alice", T0) is None
        older = await store.open_family(None, _grant(alice, "idp-rt-1"), "h1", T0, ttl)
        await store.open_family(None, _grant(alice), "h2", T0 + timedelta(minutes=1), ttl)
        newer = await store.open_family(
            None, _grant(alice, "idp-rt-2"), "h3", T0 + timedelta(minutes=2), ttl
        )
        found = await store.sign_in_of("sub-alice", T0 + timedelta(minutes=3))
        assert found is not None
        assert found.id == newer.id
        assert found.idp_refresh_token == "idp-rt-2"
        await store.refreshed(newer.id, alice, "idp-rt-3", T0 + timedelta(minutes=4))
        found = await store.sign_in_of("sub-alice", T0 + timedelta(minutes=5))
        assert found is not None
        assert found.idp_refresh_token == "idp-rt-3"
        await store.revoke_family(newer.id, "revoked", T0 + timedelta(minutes=6))
        found = await store.sign_in_of("sub-alice", T0 + timedelta(minutes=7))
        assert found is not None
        assert found.id == older.id
        assert await store.sign_in_of("sub-alice", T0 + timedelta(days=2)) is None  # expired
        assert await store.sign_in_of("sub-bob", T0) is None
    finally:
        await database.aclose()
