"""API keys: generating, hashing and verifying them (argon2id PHC strings or `sha256:` digests).

A key is `giru_<id>_<secret>`: `giru_<id>` (16 characters) is its public identifier, shown in
listings and stored beside a slow hash (`giru_<id>:$argon2id$...`), so a presented key is checked
against the one hash filed under its identifier and an unknown identifier costs no slow hash at
all. Keys made before identifiers existed (`giru_` and 43 characters, or any string behind a bare
`$argon2id$` hash) keep working (docs/security/limits.md).

argon2id verification costs tens of milliseconds of CPU and 64 MiB by design, so `KeyVerifier`
runs it in a worker thread, bounds how many run at once, and remembers outcomes for a while under
the key's SHA-256 digest (never the key itself) so the hot path does not re-run it per request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "KEY_PREFIX",
    "KeyVerifier",
    "generate_key",
    "hash_key",
    "hmac_hash",
    "key_id",
    "sha256_hash",
    "split_stored",
    "verify_key",
]

KEY_PREFIX = "giru_"
_SHA256_PREFIX = "sha256:"
_HMAC_PREFIX = "hmac-sha256:"
_ARGON2ID_PREFIX = "$argon2id$"


_ID_LENGTH = 11
_KEY = re.compile(r"(giru_[a-z2-7]{11})_[A-Za-z0-9_-]{43}")
_STORED_WITH_ID = re.compile(
    r"(giru_[a-z2-7]{11}):((?:\$argon2id\$|hmac-sha256:|sha256:).*)", re.DOTALL
)


def generate_key() -> str:
    """A new random API key, `giru_<id>_<secret>`: an 11-character base32 identifier (55 random
    bits, public) and 32 random bytes of URL-safe base64 (43 characters, the secret)."""
    ident = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:_ID_LENGTH]
    return f"{KEY_PREFIX}{ident}_{secrets.token_urlsafe(32)}"


def key_id(key: str) -> str | None:
    """The public identifier (`giru_<id>`) of a key in the current format, else None."""
    match = _KEY.fullmatch(key)
    return match.group(1) if match else None


def split_stored(stored: str) -> tuple[str | None, str]:
    """A stored hash as (key identifier or None, the hash proper): an argon2id hash, or an
    `hmac-sha256:`/`sha256:` digest, may be filed under its key's identifier."""
    match = _STORED_WITH_ID.fullmatch(stored)
    return (match.group(1), match.group(2)) if match else (None, stored)


def hash_key(key: str) -> str:
    """The argon2id hash to store for `key`, filed under its identifier when it has one
    (`giru_<id>:$argon2id$...`). CPU-heavy: call it from a thread when async."""
    hashed = PasswordHasher().hash(key)
    ident = key_id(key)
    return hashed if ident is None else f"{ident}:{hashed}"


def sha256_hash(key: str) -> str:
    """`sha256:<hex>` for `key`: cheap to verify; suitable only for long random keys."""
    return _SHA256_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def hmac_hash(key: str, pepper: bytes) -> str:
    """`hmac-sha256:<hex>` of `key` keyed with the server-side secret `pepper`.

    How the store keeps keys: without the pepper, a leaked database does not let anyone test
    guesses offline.
    """
    return _HMAC_PREFIX + hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def verify_key(key: str, stored: str) -> bool:
    """Whether `key` matches `stored` (argon2id PHC or `sha256:<hex>`); False on any other format.

    Blocking and CPU-heavy for argon2id: async callers use `KeyVerifier.verify`.
    """
    ident, stored = split_stored(stored)
    if ident is not None and key_id(key) != ident:
        return False
    if stored.startswith(_SHA256_PREFIX):
        return hmac.compare_digest(sha256_hash(key).encode(), stored.encode())
    if stored.startswith(_ARGON2ID_PREFIX):
        try:
            return PasswordHasher().verify(stored, key)
        except (VerificationError, InvalidHashError):
            return False
    return False


class KeyVerifier:
    """Verifies keys off the event loop, with a bounded TTL cache of outcomes.

    The cache maps (sha256(key), stored hash) to the outcome, failures included, so a client
    retrying a wrong key does not cost an argon2 run per request either.
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        max_entries: int = 10_000,
        max_concurrency: int = 2,
        clock: Callable[[], float] = time.monotonic,
        on_slow: Callable[[], object] | None = None,
    ) -> None:
        """`on_slow` is called for every argon2id verification actually run (a metric)."""
        self._on_slow = on_slow
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._slots = asyncio.Semaphore(max_concurrency)
        self._cache: dict[tuple[bytes, str], tuple[bool, float]] = {}

    async def verify(self, key: str, stored: str) -> bool:
        """Whether `key` matches `stored`; argon2id runs in a thread on a cache miss."""
        ident, bare = split_stored(stored)
        if not bare.startswith(_ARGON2ID_PREFIX):
            return verify_key(key, stored)  # a digest comparison: cheaper than a cache lookup
        if ident is not None and key_id(key) != ident:
            return False  # filed under another identifier: no slow hash
        entry = (hashlib.sha256(key.encode()).digest(), stored)
        cached = self._cache.get(entry)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        async with self._slots:
            if self._on_slow is not None:
                self._on_slow()
            outcome = await asyncio.to_thread(verify_key, key, stored)
        self._remember(entry, outcome)
        return outcome

    def __len__(self) -> int:
        return len(self._cache)

    def _remember(self, entry: tuple[bytes, str], outcome: bool) -> None:
        now = self._clock()
        if entry not in self._cache and len(self._cache) >= self._max_entries:
            for stale in [k for k, (_, expires) in self._cache.items() if expires <= now]:
                del self._cache[stale]
            if len(self._cache) >= self._max_entries:
                del self._cache[next(iter(self._cache))]  # the oldest insertion
        self._cache[entry] = (outcome, now + self._ttl)
