"""PKCE (RFC 7636) with S256 only: `plain` is refused, as OAuth 2.1 recommends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final

from giru.identity.broker.errors import OAuthError

__all__ = ["challenge_of", "check_challenge", "verifier_matches"]

_VERIFIER: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE: Final = re.compile(r"^[A-Za-z0-9\-_]{43}$")  # base64url of 32 bytes, no padding


def challenge_of(verifier: str) -> str:
    """The S256 challenge of `verifier`: BASE64URL(SHA256(ASCII(verifier))), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(challenge: str | None, method: str | None) -> str:
    """The challenge of an authorization request; `OAuthError` unless it is a valid S256 one."""
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE with S256)")
    if method != "S256":
        raise OAuthError(
            "invalid_request", "code_challenge_method must be S256 (plain is not accepted)"
        )
    if _CHALLENGE.fullmatch(challenge) is None:
        raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256 digest")
    return challenge


def verifier_matches(verifier: str | None, challenge: str) -> bool:
    """Whether `verifier` (RFC 7636 §4.1 syntax) hashes to `challenge`, in constant time."""
    if verifier is None or _VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(challenge_of(verifier), challenge)
