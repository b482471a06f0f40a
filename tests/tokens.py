"""Access tokens made up by tests: signed with keys the test holds, or forged on purpose
(`alg: none`, HS256 keyed with a public key, a tampered payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK

from giru.identity import UnknownKeyError

__all__ = ["Signer", "b64url", "claims_of", "forge_hs256", "forge_none", "tamper"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    decoded = json.loads(_unb64(token.split(".")[1]))
    assert isinstance(decoded, dict)
    return decoded


@dataclass
class Signer:
    """An issuer's signing keys held by the test: one per algorithm, each with a `kid`."""

    issuer: str
    keys: dict[str, tuple[str, PrivateKey]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = {
            "RS256": (f"rs-{uuid.uuid4().hex[:8]}", rsa.generate_private_key(65537, 2048)),
            "ES256": (f"es-{uuid.uuid4().hex[:8]}", ec.generate_private_key(ec.SECP256R1())),
            "EdDSA": (f"ed-{uuid.uuid4().hex[:8]}", ed25519.Ed25519PrivateKey.generate()),
        }
        self.keys["PS256"] = self.keys["RS256"]

    def jwks(self) -> dict[str, Any]:
        seen: dict[str, dict[str, Any]] = {}
        for alg, (kid, key) in self.keys.items():
            algorithm = jwt.get_algorithm_by_name(alg)
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            seen[kid] = {**jwk, "kid": kid, "use": "sig"}
        return {"keys": list(seen.values())}

    def public_jwk(self, alg: str) -> PyJWK:
        kid = self.keys[alg][0]
        return PyJWK(next(k for k in self.jwks()["keys"] if k["kid"] == kid))

    def public_pem(self, alg: str = "RS256") -> bytes:
        return (
            self.keys[alg][1]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def claims(self, audience: str | list[str], **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": "sub-alice",
            "email": "alice@hospital.example",
            "name": "Alice Nurse",
            "groups": ["nurses"],
            "amr": ["pwd", "otp"],
            "auth_time": now - 60,
            "client_id": "mcp-test-client",
            "scope": "mcp",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        base.update(extra)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        audience: str | list[str],
        *,
        alg: str = "RS256",
        kid: str | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key_id, key = self.keys[alg]
        header = {"kid": kid or key_id, **(headers or {})}
        return jwt.encode(self.claims(audience, **claims), key, algorithm=alg, headers=header)


def forge_none(claims: Mapping[str, Any], kid: str = "none") -> str:
    """An unsigned token (`alg: none`)."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64url(json.dumps(dict(claims)).encode())}."


def forge_hs256(claims: Mapping[str, Any], public_pem: bytes, kid: str) -> str:
    """HS256 keyed with the issuer's public key (the algorithm-confusion attack); PyJWT refuses
    to sign with a PEM key, so the MAC is computed by hand."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(dict(claims)).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def tamper(token: str, **changes: Any) -> str:
    """`token` with its payload changed and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims.update(changes)
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


class SignerKeys:
    """A signer's published keys, as the KeySource Giru verifies tokens with."""

    def __init__(self, signer: Signer) -> None:
        self._keys = {k["kid"]: PyJWK(k) for k in signer.jwks()["keys"]}

    async def key(self, kid: str) -> PyJWK:
        if kid not in self._keys:
            raise UnknownKeyError(kid)
        return self._keys[kid]
