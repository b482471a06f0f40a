"""Giru's sealed envelope for opaque values a client hands back (docs/security/opaque-values.md).

A value an upstream gives a client to return later (a 2026-07-28 `requestState`) cannot tell
one client from another: the upstream sees only Giru. So it leaves Giru only inside this
envelope: AES-256-GCM under a key derived from the node secret every worker shares, sealing the
value together with its kind, its binding (principal, endpoint, method, target) and an expiry.
Giru opens it only for the same binding and kind; the upstream gets its own value back.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError

__all__ = [
    "SEALED_PREFIX",
    "Binding",
    "EnvelopeError",
    "Envelopes",
    "RefusedValueError",
    "client_principal",
    "envelope_key",
]

SEALED_PREFIX: Final = "giru2."
_AAD: Final = SEALED_PREFIX.encode()
_INFO: Final = b"giru opaque-value envelope v1"
_NONCE_BYTES: Final = 12
_MAX_TOKEN_CHARS: Final = 1 << 20


def envelope_key(secret: bytes) -> bytes:
    """The 256-bit sealing key derived (HKDF-SHA256) from the node secret (the API key pepper):
    every worker that shares the secret opens every other worker's envelopes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def client_principal(client: str) -> str:
    """The principal identity string of an API-key client. A person acting through a client
    will extend this string; the envelope format does not change."""
    return f"client:{client}"


@dataclass(frozen=True, slots=True)
class Binding:
    """Whom a sealed value was handed to, and for which request."""

    principal: str
    endpoint: str
    """`/mcp` or `/mcp/<virtual-server>`."""
    method: str
    target: str
    """The tool or prompt name, or resource URI, as the client named it ("" for none)."""

    def fields(self) -> list[str]:
        return [self.principal, self.endpoint, self.method, self.target]


class EnvelopeError(Exception):
    """A value that is not an envelope Giru sealed for this binding; `reason` is for the audit
    record and the log, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefusedValueError(JsonRpcError):
    """-32602 for an opaque value Giru did not hand to this caller for this request; `detail`
    says why, for the audit record only (the client hears the same answer for every reason)."""

    def __init__(self, kind: str, reason: str, message: str | None = None) -> None:
        super().__init__(INVALID_PARAMS, message or f"Invalid {kind}")
        self.detail = f"{kind} refused: {reason}"


_MISMATCH: Final = ("principal", "endpoint", "method", "target")


class Envelopes:
    """Seals and opens values under one key; `clock` is seconds since the epoch."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(key)
        self._clock = clock

    def seal(self, kind: str, value: Any, binding: Binding, ttl_s: float) -> str:
        """`value` (any JSON value) sealed as `kind` for `binding`, valid for `ttl_s` seconds."""
        plain = orjson.dumps(
            {"k": kind, "b": binding.fields(), "x": int(self._clock() + ttl_s), "v": value}
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, _AAD)
        return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, kind: str, token: object, binding: Binding) -> Any:
        """The value sealed in `token`.

        Raises:
            EnvelopeError: not an envelope, tampered or sealed under another key, of another
                kind, expired, or bound to another principal, endpoint, method or target.
        """
        content = self._decrypt(token)
        if not isinstance(content, dict) or content.get("k") != kind:
            raise EnvelopeError("kind")
        bound = content.get("b")
        if not isinstance(bound, list) or len(bound) != len(_MISMATCH):
            raise EnvelopeError("malformed")
        for name, mine, theirs in zip(_MISMATCH, binding.fields(), bound, strict=True):
            if mine != theirs:
                raise EnvelopeError(name)
        expires = content.get("x")
        if not isinstance(expires, int) or expires < self._clock():
            raise EnvelopeError("expired")
        return content.get("v")

    def _decrypt(self, token: object) -> Any:
        if (
            not isinstance(token, str)
            or not token.startswith(SEALED_PREFIX)
            or len(token) > _MAX_TOKEN_CHARS
        ):
            raise EnvelopeError("not_sealed")
        body = token[len(SEALED_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeError("malformed") from exc
        if len(raw) <= _NONCE_BYTES:
            raise EnvelopeError("malformed")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        except InvalidTag as exc:
            raise EnvelopeError("tampered") from exc
        try:
            return orjson.loads(plain)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError("malformed") from exc
