"""The seam between Giru and where secret values live, and the embedded `database` backend.

A backend seals a secret's entries somewhere (`put`), opens them again (`get`) and forgets them
(`delete`). Giru's `secrets` table always holds the metadata (name, version, entry names, size,
backend); what else it holds is the backend's `Placement`: the sealed value (`database`) or a
path in Vault (`vault`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from giru.credentials.envelope import Keyring, Sealed
from giru.errors import CredentialsUnavailableError
from giru.store.records import SecretRecord
from giru.store.secrets import Placement

__all__ = ["DatabaseBackend", "SecretBackend", "decode_entries"]


class SecretBackend(Protocol):
    """Where secret values live (`database`: sealed in Giru's store; `vault`: Vault KV v2)."""

    @property
    def name(self) -> str: ...

    async def put(
        self,
        name: str,
        entries: Mapping[str, str],
        encoded: bytes,
        *,
        connection: tuple[str, str] | None = None,
    ) -> Placement:
        """Keep a new version of secret `name` (`encoded`: its entries as canonical JSON);
        `connection`: (server, subject) when it holds an OAuth connection's tokens (Vault keeps
        those at its connection path).

        Raises:
            CredentialsUnavailableError: the backend cannot take it now.
        """
        ...

    async def get(self, record: SecretRecord) -> dict[str, str]:
        """The entries of the secret `record` describes.

        Raises:
            CredentialsUnavailableError: the backend cannot be read, or no longer has it.
        """
        ...

    async def delete(self, record: SecretRecord) -> None:
        """Forget every version of the secret (the store then deletes its row)."""
        ...

    async def aclose(self) -> None: ...


class DatabaseBackend:
    """Values sealed by AES-256-GCM envelope encryption in the `secrets` table itself."""

    name = "database"

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def put(
        self,
        name: str,
        entries: Mapping[str, str],
        encoded: bytes,
        *,
        connection: tuple[str, str] | None = None,
    ) -> Placement:
        sealed = self.keyring.seal(name, encoded)
        return Placement(
            backend=self.name,
            entries=tuple(sorted(entries)),
            size=len(encoded),
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            ciphertext=sealed.ciphertext,
        )

    async def get(self, record: SecretRecord) -> dict[str, str]:
        if record.key_id is None or record.wrapped_key is None or record.ciphertext is None:
            raise CredentialsUnavailableError(f"secret {record.name!r} has no sealed value")
        sealed = Sealed(record.key_id, record.wrapped_key, record.ciphertext)
        return decode_entries(record.name, self.keyring.open(record.name, sealed))

    async def delete(self, record: SecretRecord) -> None:
        """Nothing beyond the row, which the store deletes."""

    async def aclose(self) -> None:
        """Holds no resources."""


def decode_entries(name: str, encoded: bytes | Mapping[str, Any]) -> dict[str, str]:
    """A secret's entries from their JSON (or a decoded object), every value a string."""
    value = orjson.loads(encoded) if isinstance(encoded, bytes) else encoded
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise CredentialsUnavailableError(f"secret {name!r} does not hold string entries")
    return {str(k): v for k, v in value.items()}
