"""`giru run`, `giru migrate`, `giru version` and `giru validate`: the gateway itself, its
database schema and its manifests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from giru import __version__
from giru.cli.exits import EXIT_INVALID, reported
from giru.errors import ConfigError

if TYPE_CHECKING:
    from giru.manifests import Config

__all__ = ["EXIT_CONFIG", "migrate", "run", "validate", "version"]

EXIT_CONFIG = EXIT_INVALID


def run(
    config: Annotated[
        Path | None,
        typer.Option(help="Manifest file or directory, hot-reloaded (env GIRU_CONFIG)."),
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT (env GIRU_LISTEN; default 127.0.0.1:8080).")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="json or console (env GIRU_LOG_FORMAT; default json).")
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option(
            help="Take over the objects another manifest directory manages (after moving or "
            "renaming --config's directory): the manifests' objects are updated, the rest "
            "of that directory's objects deleted."
        ),
    ] = False,
) -> None:
    """Start the gateway: /mcp, /mcp/<virtual-server>, /sse, /healthz, /readyz, /metrics."""
    # The server side (settings, manifests, then FastAPI, SQLAlchemy, the proxy) is imported
    # here and not at the top: it takes seconds, which `giru --help` and every command that only
    # talks to the API would otherwise pay for nothing.
    from giru.settings import Settings

    flags: dict[str, Any] = {"config": config, "listen": listen, "log_format": log_format}
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    loaded = None
    if settings.config is not None:  # without manifests the store holds the configuration
        try:
            loaded = _load(settings.config)
        except ConfigError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(EXIT_CONFIG) from exc
    from giru.server import serve

    typer.echo(f"Giru {__version__} serving on http://{settings.listen}/mcp", err=True)
    serve(settings, config=loaded, adopt=adopt)


def migrate() -> None:
    """Upgrade the database schema (GIRU_DATABASE_URL) to this version's newest, then exit.

    Run before rolling out a new version (the Helm chart's hook Job); every `giru run` does it
    too. A schema newer than this version is refused and left alone.
    """
    import asyncio  # here: every command imports this module, and asyncio is not free

    from giru.settings import Settings

    settings = Settings()
    with reported():
        asyncio.run(_migrate(settings.database_url))
    typer.echo("schema up to date", err=True)


async def _migrate(url: str) -> None:
    from giru.store import Database

    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.aclose()


def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def validate(
    config: Annotated[Path, typer.Argument(help="Manifest file or directory.")],
) -> None:
    """Validate manifests; print every problem with file, document, field and reason."""

    try:
        loaded = _load(config)
    except ConfigError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    typer.echo(
        f"ok: {len(loaded.servers)} servers, {len(loaded.virtual_servers)} virtual servers, "
        f"{len(loaded.clients)} clients, {len(loaded.subscriptions)} subscriptions, "
        f"{len(loaded.environments)} environments, {len(loaded.policies)} policies"
    )


def _load(path: Path) -> Config:
    """The manifests at `path` (`giru.manifests` is imported only by the commands reading them)."""
    from giru.manifests import load

    return load(path)
