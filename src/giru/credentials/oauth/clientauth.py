"""How Giru authenticates itself to a token endpoint (RFC 6749 §2.3, RFC 7523 §2.2):
`client_secret_basic`, `client_secret_post`, `private_key_jwt` (a short-lived JWT signed with
the client's private key, `iss` = `sub` = client id, `aud` = the authorization server's issuer
when known, else the token endpoint) or `none` (a public client: only `client_id`)."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import quote

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from giru.credentials.oauth.errors import OAuthError

__all__ = ["AuthMethod", "ClientAuth"]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME_S: Final = 60
_EC_ALGORITHMS: Final = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """A client id and how it proves itself. `secret` holds the client secret, or the PEM
    private key for `private_key_jwt`; it is left out of `repr`."""

    client_id: str
    method: AuthMethod = "client_secret_basic"
    secret: str | None = field(default=None, repr=False)
    signing_algorithm: str | None = None
    """For `private_key_jwt`: default from the key (RSA: RS256, P-256: ES256, Ed25519: EdDSA)."""
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def apply(self, form: dict[str, str], headers: dict[str, str], audience: str) -> None:
        """Add this client's authentication to a token request's form and headers."""
        if self.method == "client_secret_basic":
            pair = f"{_form_encode(self.client_id)}:{_form_encode(self._secret())}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            return
        form["client_id"] = self.client_id
        if self.method == "client_secret_post":
            form["client_secret"] = self._secret()
        elif self.method == "private_key_jwt":
            form["client_assertion_type"] = _ASSERTION_TYPE
            form["client_assertion"] = self.assertion(audience)

    def assertion(self, audience: str) -> str:
        """A signed client assertion for `audience` (RFC 7523 §3)."""
        try:
            key = load_pem_private_key(self._secret().encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise OAuthError("the private_key_jwt key is not an unencrypted PEM key") from exc
        algorithm = self.signing_algorithm or _algorithm(key)
        now = int(self.clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME_S,
            "jti": secrets.token_urlsafe(16),
        }
        try:
            return jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]
        except (jwt.PyJWTError, ValueError, TypeError, NotImplementedError) as exc:
            raise OAuthError(f"cannot sign the client assertion with {algorithm}") from exc

    def _secret(self) -> str:
        if not self.secret:
            raise OAuthError(f"{self.method} needs a client secret (or key); none is configured")
        return self.secret


def _algorithm(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        found = _EC_ALGORITHMS.get(key.curve.name)
        if found is not None:
            return found
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise OAuthError("the private_key_jwt key is not RSA, EC P-256/384/521 or Ed25519")


def _form_encode(value: str) -> str:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding."""
    return quote(value, safe="").replace("%20", "+")
