"""Envelope encryption of secret values (AES-256-GCM), pure: no I/O.

Each secret version gets a fresh random 256-bit data key that encrypts its value; the data key is
itself encrypted ("wrapped") by the key-encryption key (KEK). Both use a random 96-bit nonce,
stored in front of the ciphertext, and bind the secret's name as associated data, so a sealed
value copied onto another secret's row does not open. Rotating the KEK re-wraps data keys only:
the values are never decrypted to disk and their ciphertexts stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from giru.errors import ConfigError, CredentialsUnavailableError

__all__ = ["KEY_BYTES", "Keyring", "Sealed", "key_id", "parse_key"]

KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted secret value as stored: which KEK wrapped its data key, the wrapped data
    key and the value's ciphertext (each `nonce || AES-GCM ciphertext and tag`)."""

    key_id: str
    wrapped_key: bytes
    ciphertext: bytes


def parse_key(text: str) -> bytes:
    """A 32-byte key from 64 hex digits or base64; `ConfigError` for anything else."""
    value = text.strip()
    try:
        raw = bytes.fromhex(value) if len(value) == 2 * KEY_BYTES else base64.b64decode(value)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            "a secrets key-encryption key is 32 bytes written as 64 hex digits or base64 "
            "(e.g. `openssl rand -hex 32`)"
        )
    return raw


def key_id(key: bytes) -> str:
    """A short public name for a KEK (stored beside what it wrapped; reveals nothing of it)."""
    return hashlib.sha256(b"giru-secrets-kek:" + key).hexdigest()[:16]


class Keyring:
    """The KEKs this process knows, the current one first: it seals with the current one and
    opens with whichever wrapped the value."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self.current_id: str | None = key_id(keys[0]) if keys else None
        self._current = keys[0] if keys else None

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` derived from the current KEK (HMAC-SHA256): the same in
        every process holding it, different per purpose; changes when the KEK does."""
        if self._current is None:
            raise _no_key()
        return hmac.new(self._current, b"giru-derived:" + purpose.encode(), "sha256").digest()

    @classmethod
    def from_text(cls, values: Sequence[str]) -> Keyring:
        return cls([parse_key(value) for value in values])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, name: str, plaintext: bytes) -> Sealed:
        """Encrypt `plaintext` under a new data key wrapped by the current KEK."""
        if self.current_id is None:
            raise _no_key()
        data_key = AESGCM.generate_key(bit_length=256)
        ciphertext = _encrypt(AESGCM(data_key), plaintext, _value_context(name))
        wrapped = _encrypt(self._keys[self.current_id], data_key, _key_context(name))
        return Sealed(self.current_id, wrapped, ciphertext)

    def open(self, name: str, sealed: Sealed) -> bytes:
        """The plaintext of `sealed`; `CredentialsUnavailableError` when this keyring lacks its
        KEK or the stored bytes do not authenticate."""
        data_key = self._unwrap(name, sealed)
        try:
            return _decrypt(AESGCM(data_key), sealed.ciphertext, _value_context(name))
        except (InvalidTag, ValueError) as exc:
            raise CredentialsUnavailableError(
                f"secret {name!r} does not decrypt (its stored value was altered)"
            ) from exc

    def rewrap(self, name: str, sealed: Sealed) -> Sealed | None:
        """`sealed` with its data key wrapped by the current KEK; None when it already is."""
        if self.current_id is None:
            raise _no_key()
        if sealed.key_id == self.current_id:
            return None
        data_key = self._unwrap(name, sealed)
        wrapped = _encrypt(self._keys[self.current_id], data_key, _key_context(name))
        return Sealed(self.current_id, wrapped, sealed.ciphertext)

    def _unwrap(self, name: str, sealed: Sealed) -> bytes:
        kek = self._keys.get(sealed.key_id)
        if kek is None:
            raise CredentialsUnavailableError(
                f"secret {name!r} is sealed by key {sealed.key_id}, which this process does not "
                "hold (set it in GIRU_SECRETS__PREVIOUS_KEYS until `giru secrets rotate-key` ran)"
            )
        try:
            return _decrypt(kek, sealed.wrapped_key, _key_context(name))
        except (InvalidTag, ValueError) as exc:
            raise CredentialsUnavailableError(
                f"secret {name!r}: its data key does not unwrap (altered)"
            ) from exc


def _no_key() -> CredentialsUnavailableError:
    return CredentialsUnavailableError(
        "no key-encryption key: set GIRU_SECRETS__KEY (the same on every worker) to store secrets "
        "in a shared database"
    )


def _value_context(name: str) -> bytes:
    return b"giru-secret-value:" + name.encode()


def _key_context(name: str) -> bytes:
    return b"giru-secret-key:" + name.encode()


def _encrypt(cipher: AESGCM, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, context)


def _decrypt(cipher: AESGCM, sealed: bytes, context: bytes) -> bytes:
    return cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)
