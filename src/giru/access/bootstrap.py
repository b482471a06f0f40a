"""Secrets Giru needs before it can serve: the API key pepper and the first admin key."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import structlog

from giru.errors import ConfigError
from giru.settings import Settings
from giru.store import Store

__all__ = ["BOOTSTRAP_ADMIN", "bootstrap_admin", "key_pepper"]

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
    return _pepper_file(database.with_suffix(".pepper"))


def _pepper_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(value)
    _log.info("key_pepper_created", path=str(path))
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
