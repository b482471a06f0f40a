"""PKCE for authorization requests Giru makes (RFC 7636, S256 only)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

__all__ = ["Pkce"]


@dataclass(frozen=True, slots=True)
class Pkce:
    """A fresh verifier (keep it with the flow's state) and its S256 challenge (send it in
    the authorization request as `code_challenge`, `code_challenge_method=S256`)."""

    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(64)[:96], repr=False)

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    method = "S256"
