"""Giru's ES256 signing keys: made, rotated and published (JWKS), private keys sealed at rest.

The current key signs; after `rotation` a new key becomes current and the old one stays
published as previous until the next rotation (longer than any token's lifetime), so a token
signed just before a rotation still verifies. `LocalKeySource` hands the public keys to the
resource-server side by `kid`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from giru.errors import ConfigError
from giru.identity.broker.sealing import Sealer
from giru.identity.broker.storage import KeyRow, OAuthStore
from giru.identity.jwks import UnknownKeyError

__all__ = ["ALGORITHM", "KeyRing", "LocalKeySource", "SigningKey"]

ALGORITHM: Final = "ES256"
_AAD: Final = b"giru signing key "
_RELOAD_S: Final = 60.0
_UNKNOWN_KID_RELOAD_S: Final = 5.0  # a flood of unknown `kid`s reads the store this often at most


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]
    status: str
    created_at: datetime


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The RFC 7517 JWK of a P-256 public key, `kid` = its RFC 7638 thumbprint."""
    numbers = key.public_numbers()
    jwk = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


class KeyRing:
    """The signing keys of this authorization server; `sign` rotates when the current key is
    older than `rotation`. Keys are read from the store (other workers may rotate) at most
    once a minute, and at once when a `kid` is not known."""

    def __init__(self, store: OAuthStore, sealer: Sealer, *, rotation: timedelta) -> None:
        self._store = store
        self._sealer = sealer.derive("giru identity signing keys")
        self._rotation = rotation
        self._keys: list[SigningKey] = []
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _load(self) -> None:
        rows = await self._store.signing_keys()
        self._keys = [self._opened(row) for row in rows]
        self._loaded_at = asyncio.get_running_loop().time()

    def _opened(self, row: KeyRow) -> SigningKey:
        try:
            pem = self._sealer.open(row.sealed_private_key, _AAD + row.kid.encode())
        except ValueError as exc:
            raise ConfigError(
                f"signing key {row.kid} cannot be opened: the identity key-encryption key is "
                "not the one it was sealed with"
            ) from exc
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"signing key {row.kid} is not an EC key")
        return SigningKey(row.kid, private, row.public_jwk, row.status, row.created_at)

    async def current(self, now: datetime) -> SigningKey:
        """The key that signs now (made, or rotated, if due)."""
        async with self._lock:
            if asyncio.get_running_loop().time() - self._loaded_at > _RELOAD_S:
                await self._load()
            current = next((k for k in self._keys if k.status == "current"), None)
            if current is None or now - current.created_at >= self._rotation:
                await self._rotate(current, now)
                current = next(k for k in self._keys if k.status == "current")
            return current

    async def _rotate(self, current: SigningKey | None, now: datetime) -> None:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = public_jwk(private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        sealed = self._sealer.seal(pem, _AAD + jwk["kid"].encode())
        row = KeyRow(jwk["kid"], ALGORITHM, jwk, sealed, "current", now)
        await self._store.rotate_keys(row, [current.kid] if current is not None else [])
        await self._load()  # ours, or the key another worker made first

    async def sign(self, claims: dict[str, Any], now: datetime) -> str:
        key = await self.current(now)
        return jwt.encode(
            claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"}
        )

    async def published(self, now: datetime) -> dict[str, Any]:
        """The JWKS document: the current and the previous public key."""
        await self.current(now)
        return {"keys": [k.public_jwk for k in self._keys if k.status in ("current", "previous")]}

    async def public_jwk(self, kid: str) -> dict[str, Any] | None:
        """The published JWK with this `kid` (current or previous), or None."""
        found = next((k for k in self._keys if k.kid == kid), None)
        since = asyncio.get_running_loop().time() - self._loaded_at
        if found is None and since > _UNKNOWN_KID_RELOAD_S:
            async with self._lock:
                await self._load()
            found = next((k for k in self._keys if k.kid == kid), None)
        return found.public_jwk if found is not None else None


class LocalKeySource:
    """Giru's own published keys by `kid` (a `giru.identity.KeySource`), for verifying the
    tokens Giru issued; `UnknownKeyError` for a key it does not publish."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    async def key(self, kid: str) -> jwt.PyJWK:
        public = await self._ring.public_jwk(kid)
        if public is None:
            raise UnknownKeyError(f"Giru publishes no signing key {kid[:64]!r}")
        return jwt.PyJWK(public, algorithm=ALGORITHM)
