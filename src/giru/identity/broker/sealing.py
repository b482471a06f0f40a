"""`Sealer`: AES-256-GCM under the identity key-encryption key, which never enters the database.

Signing keys are stored sealed with it, and a sign-in in progress travels sealed through the
browser (the IdP's `state`, the consent form), so no server-side session is needed between the
steps and any worker can take the next one. The key comes from `GIRU_IDENTITY__KEY_ENCRYPTION_KEY`,
or a file (`GIRU_IDENTITY__KEY_FILE`; by default beside a SQLite store, created mode 600 on
first start like the API key pepper).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Final

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from giru.errors import ConfigError
from giru.settings import Settings

__all__ = ["Sealer", "key_encryption_key"]

_NONCE: Final = 12
_log = structlog.get_logger(__name__)


class Sealer:
    """Seals and opens byte strings bound to an associated label (`aad`)."""

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the identity key-encryption key must be 32 bytes (64 hex digits)")
        self._key = key
        self._aead = AESGCM(key)

    def derive(self, label: str) -> Sealer:
        """A sealer with a key of its own for `label`, so no two uses share a key."""
        return Sealer(self.secret(label))

    def secret(self, label: str) -> bytes:
        """32 bytes derived from this key for `label` (HKDF-SHA256), e.g. an HMAC key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode())
        return hkdf.derive(self._key)

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, aad)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str, aad: bytes) -> bytes:
        """The plaintext; `ValueError` when `token` was not sealed by this key for `aad`."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise ValueError("not sealed by this key") from exc


def key_encryption_key(settings: Settings) -> bytes:
    """The configured key, the key file's, or (SQLite only) a new one written beside the store.

    Raises:
        ConfigError: a shared database and neither setting (workers must share the key).
    """
    identity = settings.identity
    if identity.key_encryption_key is not None:
        return _decoded(
            identity.key_encryption_key.get_secret_value(), "GIRU_IDENTITY__KEY_ENCRYPTION_KEY"
        )
    path = identity.key_file
    if path is None:
        database = settings.sqlite_file
        if database is None:
            raise ConfigError(
                "GIRU_IDENTITY__KEY_ENCRYPTION_KEY (or GIRU_IDENTITY__KEY_FILE) is required with a "
                "shared database: 64 hex digits (`openssl rand -hex 32`), the same on every worker"
            )
        path = database.with_suffix(".identity-key")
    return _decoded(_key_file(path), str(path))


def _decoded(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ConfigError(f"{where}: the identity key must be 64 hex digits") from exc
    if len(key) != 32:
        raise ConfigError(f"{where}: the identity key must be 64 hex digits")
    return key


def _key_file(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value)
    _log.info("identity_key_created", path=str(path))
    return value
