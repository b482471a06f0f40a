"""Upstream credentials: secrets kept write-only (the `database` backend seals them with
AES-256-GCM envelope encryption, the `vault` backend keeps them in HashiCorp Vault KV v2), read
only to authenticate Giru to upstream servers, every access audited (docs/credentials.md)."""

from giru.credentials.backend import DatabaseBackend, SecretBackend
from giru.credentials.envelope import Keyring, Sealed
from giru.credentials.names import DEFAULT_KEY, NAME_PATTERN, SecretTooLargeError
from giru.credentials.secretstore import AuditSink, Rotation, SecretStore, open_secret_store
from giru.credentials.upstream import UpstreamCredentials
from giru.credentials.vault import VaultBackend

__all__ = [
    "DEFAULT_KEY",
    "NAME_PATTERN",
    "AuditSink",
    "DatabaseBackend",
    "Keyring",
    "Rotation",
    "Sealed",
    "SecretBackend",
    "SecretStore",
    "SecretTooLargeError",
    "UpstreamCredentials",
    "VaultBackend",
    "open_secret_store",
]
