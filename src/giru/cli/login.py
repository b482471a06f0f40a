"""`giru login` (verify a URL and token, then remember them) and `giru whoami`."""

from __future__ import annotations

from typing import Annotated

import typer

from giru.cli.context import Connection, config_path, load_connection, save_connection
from giru.cli.exits import reported

__all__ = ["login", "whoami"]


def login(
    url: Annotated[str, typer.Option(help="Giru's base URL, e.g. http://127.0.0.1:8080.")],
    token: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, help="An admin API key (prompted if omitted)."),
    ],
) -> None:
    """Check the URL and token with the API, then save them (mode 0600)."""
    connection = Connection(url.rstrip("/"), token)
    with reported(), connection.client() as client:
        me = client.get("/whoami")
    path = save_connection(connection)
    typer.echo(f"logged in to {connection.url} as {me.get('name')} ({me.get('role')})")
    typer.echo(f"saved to {path}", err=True)


def whoami() -> None:
    """Print the API URL and the admin key's name and role."""
    with reported():
        connection = load_connection()
        with connection.client() as client:
            me = client.get("/whoami")
    typer.echo(f"{me.get('name')} ({me.get('role')}) at {connection.url}")
    typer.echo(f"context: {config_path()}", err=True)
