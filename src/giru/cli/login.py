"""`giru login` (verify a URL and token, or sign in with the company IdP, then remember them)
and `giru whoami`."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from giru.cli.context import Connection, config_path, load_connection, save_connection
from giru.cli.exits import reported

__all__ = ["login", "whoami"]


def login(
    url: Annotated[str, typer.Option(help="Giru's base URL, e.g. http://127.0.0.1:8080.")],
    token: Annotated[
        str | None,
        typer.Option(help="An admin API key (prompted for unless --sso)."),
    ] = None,
    sso: Annotated[
        bool,
        typer.Option(
            "--sso",
            help="Sign in with the company IdP in a browser (your role comes from your groups).",
        ),
    ] = False,
    browser: Annotated[
        bool, typer.Option(help="Open the sign-in page (else only print its URL).")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
) -> None:
    """Check the URL and token with the API, then save them (mode 0600)."""
    base = url.rstrip("/")
    if sso:
        with reported():
            token = _sso_token(base, browser=browser, timeout_s=timeout)
    elif token is None:
        token = typer.prompt("Token", hide_input=True)
    connection = Connection(base, token)
    with reported(), connection.client() as client:
        me = client.get("/whoami")
    path = save_connection(connection)
    typer.echo(f"logged in to {connection.url} as {me.get('name')} ({me.get('role')})")
    typer.echo(f"saved to {path}", err=True)


def _sso_token(url: str, *, browser: bool, timeout_s: float) -> str:
    from giru.cli.sso import sign_in  # the HTTP stack only when it is used (see context.py)

    def browse(location: str) -> None:
        typer.echo(f"sign in at: {location}", err=True)
        if browser:
            webbrowser.open(location)

    signed_in = sign_in(url, browse, timeout_s=timeout_s)
    minutes = signed_in.expires_in // 60
    typer.echo(f"the token is valid for {minutes} min; run giru login --sso again then", err=True)
    return signed_in.access_token


def whoami() -> None:
    """Print the API URL and the admin key's name and role."""
    with reported():
        connection = load_connection()
        with connection.client() as client:
            me = client.get("/whoami")
    typer.echo(f"{me.get('name')} ({me.get('role')}) at {connection.url}")
    typer.echo(f"context: {config_path()}", err=True)
