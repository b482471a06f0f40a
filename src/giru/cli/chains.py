"""The audit chains read straight from the database, for `giru audit verify` and
`giru audit export --database-url`: no API in between, so they work while the gateway is down.

Apart from `giru.cli.audit` because the store (SQLAlchemy, the API's schemas) takes a second or
more to import: only these two commands load it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url

from giru.api.audit import AuditItem, audit_item
from giru.audit import Verification, verification_body, verify
from giru.cli.output import progress, render_json_line
from giru.errors import ConfigError
from giru.settings import Settings
from giru.store import Database
from giru.store import audit as stored

__all__ = ["Writer", "default_url", "export_chains", "verification_body", "verify_chains"]


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...


def default_url() -> str:
    """The database the gateway reads (`GIRU_DATABASE_URL` or its default)."""
    return Settings().database_url


def verify_chains(url: str, node: str | None) -> Verification:
    """Check every node's chain (or `node`'s) in the database at `url`."""
    return asyncio.run(_verify(url, node))


def export_chains(url: str, node: str | None, out: Writer) -> None:
    """Write every record of every chain (or `node`'s), in (node, seq) order, as JSON lines."""
    asyncio.run(_export(url, node, out))


async def _verify(url: str, node: str | None) -> Verification:
    database = _database(url)
    try:
        async with database.read() as session:
            total = await stored.count(session, node)
        with progress("verifying audit chains", total) as advance:
            return await verify(stored.chain(database, node=node), advance)
    finally:
        await database.aclose()


async def _export(url: str, node: str | None, out: Writer) -> None:
    database = _database(url)
    try:
        async with database.read() as session:
            total = await stored.count(session, node)
        with progress("exporting audit records", total) as advance:
            async for entry in stored.chain(database, node=node):
                item = AuditItem.model_validate(audit_item(entry)).model_dump(mode="json")
                out.write(render_json_line(item))
                advance()
    finally:
        await database.aclose()


def _database(url: str) -> Database:
    """The database at `url`, which must exist (SQLite would create an empty file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise ConfigError(f"{parsed.database}: no such database file")
    return Database(url)
