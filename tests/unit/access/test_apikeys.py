"""API keys: generation, argon2id and sha256 verification, the verification cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from giru.access import apikeys
from giru.access.apikeys import (
    KeyVerifier,
    generate_key,
    hash_key,
    hmac_hash,
    key_id,
    sha256_hash,
    split_stored,
    verify_key,
)

KEY = "giru_correct-horse-battery-staple"
ARGON2 = hash_key(KEY)
SHA256 = sha256_hash(KEY)


def test_generated_keys_are_an_identifier_and_a_urlsafe_secret() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        ident = key_id(key)
        assert ident is not None
        assert key.startswith(ident + "_")
        assert len(ident) == len("giru_") + 11
        assert set(ident[5:]) <= set("abcdefghijklmnopqrstuvwxyz234567")
        assert len(key) == len(ident) + 1 + 43
        assert set(key[len(ident) + 1 :]) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


@pytest.mark.parametrize(
    "key",
    [KEY, "giru_" + "a" * 43, "giru_abcdefghijk_short", "giru_ABCDEFGHIJK_" + "a" * 43, ""],
)
def test_keys_without_a_well_formed_identifier_have_none(key: str) -> None:
    assert key_id(key) is None


def test_a_key_with_an_identifier_is_hashed_under_it_and_verified_only_there() -> None:
    key = generate_key()
    stored = hash_key(key)
    assert stored.startswith(f"{key_id(key)}:$argon2id$v=19$")
    assert split_stored(stored) == (key_id(key), stored.partition(":")[2])
    assert verify_key(key, stored)
    other = generate_key()
    assert not verify_key(other, stored)


def test_digests_may_be_filed_under_their_key_s_identifier_too() -> None:
    key = generate_key()
    for digest in (sha256_hash(key), hmac_hash(key, b"pepper")):
        assert split_stored(f"{key_id(key)}:{digest}") == (key_id(key), digest)
    filed = f"{key_id(key)}:{sha256_hash(key)}"
    assert verify_key(key, filed)
    assert not verify_key(generate_key(), filed)
    assert split_stored(f"{key_id(key)}:plain") == (None, f"{key_id(key)}:plain")


async def test_a_key_filed_under_another_identifier_costs_no_argon2(
    argon2_runs: list[str],
) -> None:
    slow: list[int] = []
    verifier = KeyVerifier(on_slow=lambda: slow.append(1))
    stored = hash_key(generate_key())
    assert not await verifier.verify(generate_key(), stored)
    assert not await verifier.verify(KEY, stored)
    assert argon2_runs == []
    assert slow == []


def test_hash_key_makes_argon2id_phc_strings_with_a_fresh_salt() -> None:
    assert ARGON2.startswith("$argon2id$v=19$")
    assert hash_key(KEY) != ARGON2


@pytest.mark.parametrize(
    ("key", "stored", "expected"),
    [
        (KEY, ARGON2, True),
        (KEY + "x", ARGON2, False),
        ("", ARGON2, False),
        (KEY, SHA256, True),
        (KEY.upper(), SHA256, False),
        (KEY, SHA256.upper(), False),
        (KEY, "$argon2id$garbage", False),
        (KEY, "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA", False),
        (KEY, KEY, False),  # a stored plaintext is never accepted
    ],
)
def test_verify_key_accepts_only_the_matching_key(key: str, stored: str, expected: bool) -> None:
    assert verify_key(key, stored) is expected


async def test_async_verify_agrees_with_verify_key_both_ways() -> None:
    verifier = KeyVerifier()
    assert await verifier.verify(KEY, ARGON2)
    assert not await verifier.verify("giru_wrong", ARGON2)
    assert await verifier.verify(KEY, SHA256)
    assert not await verifier.verify("giru_wrong", SHA256)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def argon2_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each real argon2 verification the verifier performs."""
    runs: list[str] = []
    real = apikeys.verify_key

    def counting(key: str, stored: str) -> bool:
        runs.append(stored)
        return real(key, stored)

    monkeypatch.setattr(apikeys, "verify_key", counting)
    return runs


async def test_cached_outcomes_skip_argon2_until_the_ttl_expires(argon2_runs: list[str]) -> None:
    clock = Clock()
    verifier = KeyVerifier(ttl=60.0, clock=clock)
    for _ in range(3):
        assert await verifier.verify(KEY, ARGON2)
        assert not await verifier.verify("giru_wrong", ARGON2)
    assert len(argon2_runs) == 2
    clock.now += 61.0
    assert await verifier.verify(KEY, ARGON2)
    assert len(argon2_runs) == 3


async def test_sha256_keys_are_checked_directly_without_cache(argon2_runs: list[str]) -> None:
    verifier = KeyVerifier()
    assert await verifier.verify(KEY, SHA256)
    assert len(verifier) == 0


async def test_cache_is_bounded() -> None:
    verifier = KeyVerifier(max_entries=2)
    for attempt in range(4):
        await verifier.verify(f"giru_wrong-{attempt}", ARGON2)
    assert len(verifier) == 2


def reachable_strings(root: object) -> Iterator[str | bytes]:
    """Every str/bytes held by `root`'s attributes, through plain containers."""
    stack: list[object] = [vars(root)]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


async def test_cache_never_holds_the_raw_key() -> None:
    verifier = KeyVerifier()
    await asyncio.gather(verifier.verify(KEY, ARGON2), verifier.verify("giru_other", ARGON2))
    held = list(reachable_strings(verifier))
    assert ARGON2 in held  # the walk does reach the cache
    assert not [s for s in held if KEY in (s if isinstance(s, str) else s.decode("latin-1"))]
    assert not [s for s in held if isinstance(s, bytes) and KEY.encode() in s]
