"""Secrets Giru needs before it can serve: the API key pepper, the key-encryption key of the
secret store and the first admin key.

In embedded mode (SQLite, nothing configured) the pepper and the key-encryption key are random
values Giru makes on its first start and keeps beside the database file (mode 0600), so `make run`
needs no setup; with a shared database every worker must be given the same values.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog

from giru.errors import ConfigError
from giru.settings import Settings
from giru.store import Store

__all__ = [
    "BOOTSTRAP_ADMIN",
    "SecretsKeys",
    "bootstrap_admin",
    "key_pepper",
    "rewrite_kept_file",
    "secrets_keys",
]

BOOTSTRAP_ADMIN = "bootstrap"
_log = structlog.get_logger(__name__)


def key_pepper(settings: Settings) -> bytes:
    """`GIRU_KEY_PEPPER`, or (embedded SQLite only) a random one kept beside the database file.

    Raises:
        ConfigError: PostgreSQL without `GIRU_KEY_PEPPER`: workers sharing a database must
            share the pepper, so it cannot be made up locally.
    """
    if settings.key_pepper is not None:
        value = settings.key_pepper.get_secret_value()
        if len(value) < 16:
            raise ConfigError("GIRU_KEY_PEPPER must be at least 16 characters")
        return value.encode()
    database = settings.sqlite_file
    if database is None:
        raise ConfigError(
            "GIRU_KEY_PEPPER is required with a shared database: set it to the same random "
            "value (e.g. `openssl rand -hex 32`) on every worker"
        )
    return _kept_file(database.with_suffix(".pepper"), "key_pepper")


@dataclass(frozen=True, slots=True)
class SecretsKeys:
    """The key-encryption keys as written (hex or base64 text), the current one first.

    `file` is set when the keys live in the embedded default key file, which Giru itself may
    rewrite to rotate them (`giru secrets rotate-key`); keys given by settings are the
    operator's to change.
    """

    values: tuple[str, ...]
    file: Path | None = None


def secrets_keys(settings: Settings) -> SecretsKeys:
    """`GIRU_SECRETS__KEY` (+ `__PREVIOUS_KEYS`), `GIRU_SECRETS__KEY_FILE` (one key a line,
    current first), or (embedded SQLite only) a random key kept beside the database file.

    With a shared database and none of them, no keys: the database secret backend then refuses
    to seal or open secrets (workers sharing a database must share the key).
    """
    section = settings.secrets
    previous = tuple(key.get_secret_value() for key in section.previous_keys)
    if section.key is not None:
        return SecretsKeys((section.key.get_secret_value(), *previous))
    if section.key_file is not None:
        try:
            lines = section.key_file.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"GIRU_SECRETS__KEY_FILE {section.key_file}: {exc}") from exc
        return SecretsKeys((*lines, *previous))
    database = settings.sqlite_file
    if database is None:
        return SecretsKeys(previous)
    path = database.with_suffix(".secrets-key")
    kept = _kept_file(path, "secrets_key").decode("ascii").split()
    return SecretsKeys((*kept, *previous), file=path)


def rewrite_kept_file(path: Path, lines: list[str]) -> None:
    """Replace a kept file (mode 0600) atomically with `lines`, e.g. a new key above the old."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write("\n".join(lines) + "\n")
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)


def _kept_file(path: Path, what: str) -> bytes:
    """The random value kept in `path`, made (64 hex digits, mode 0600) when there is none."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(value)
    _log.info(f"{what}_created", path=str(path))
    return value


async def bootstrap_admin(store: Store, settings: Settings) -> None:
    """Make `GIRU_ADMIN_TOKEN` an admin key; with neither that nor any admin key, make one and
    print it once (embedded mode's first start)."""
    if settings.admin_token is not None:
        token = settings.admin_token.get_secret_value()
        await store.ensure_admin_key(BOOTSTRAP_ADMIN, token, "admin")
        return
    if await store.has_admin_keys():
        return
    _info, token = await store.create_admin_key(BOOTSTRAP_ADMIN, "admin", actor="system")
    print(  # shown once, on the operator's terminal; never logged
        f"giru: admin API token (shown once; keep it, e.g. `giru login --token ...`): {token}",
        file=sys.stderr,
        flush=True,
    )
