"""`giru connect SERVER` and `giru connections`: OAuth connections to upstream servers.

`connect` asks the API for the authorization URL, prints it and opens it in a browser, then
waits (a spinner on a terminal) until the connection shows up, or `--timeout` passes. The
connection is the caller's own on a `perUser` server (sign in with `giru login --sso`), the
shared one on a `shared` server (an operator). No command ever shows a token.
"""

from __future__ import annotations

import time
import webbrowser
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from giru.cli.context import connect as api_client
from giru.cli.exits import reported
from giru.cli.kinds import Column
from giru.cli.output import Format, print_objects, progress
from giru.cli.resources import OutputOption
from giru.errors import GiruError

__all__ = ["connect", "connections"]

_POLL_S = 1.0
_COLUMNS: tuple[Column, ...] = (
    ("SERVER", lambda c: str(c.get("server", "-"))),
    ("WHO", lambda c: str(c.get("who", "-"))),
    ("STATUS", lambda c: str(c.get("status", "-"))),
    ("SCOPES", lambda c: " ".join(c.get("scopes") or []) or "-"),
    ("EXPIRES", lambda c: _when(c.get("expiresAt"))),
    ("REFRESHED", lambda c: _when(c.get("refreshedAt"))),
)


class ConnectTimeoutError(GiruError):
    code = "connect_timeout"


def connect(
    server: str,
    browser: Annotated[bool, typer.Option(help="open the URL in a browser")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the sign-in")] = 600.0,
) -> None:
    """Connect SERVER (an OAuth upstream) in a browser and wait until it is connected."""
    started = time.time()
    with reported(), api_client() as api:
        answer = api.post(f"/servers/{server}/connections")
        url = str(answer["authorizationUrl"])
        typer.echo(f"open this URL to connect {server}:\n{url}", err=True)
        if browser:
            webbrowser.open(url)
        made = _wait(api, server, started, timeout)
    typer.echo(f"connected {server} as {made.get('who')} ({' '.join(made.get('scopes') or [])})")


def connections(
    server: Annotated[
        list[str] | None, typer.Argument(help="servers (default: every OAuth one)")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """OAuth connections: who, status, scopes, expiry, last refresh (never a token)."""
    with reported(), api_client() as api:
        names = server or [
            str(s["metadata"]["name"])
            for s in api.list_all("/servers")
            if (s.get("spec", {}).get("auth") or {}).get("type") == "oauth2-authorization-code"
        ]
        items = [
            item for name in names for item in api.get(f"/servers/{name}/connections")["items"]
        ]
    if not items and output is Format.table:
        typer.echo("No connections found.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)


def _wait(api: Any, server: str, started: float, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with progress(f"waiting for the sign-in to {server}", None) as advance:
        while time.monotonic() < deadline:
            mine = api.get(f"/servers/{server}/connections", {"own": "true"})["items"]
            made = [c for c in mine if float(c.get("connectedAt") or 0) >= started - 1]
            if made:
                return dict(made[0])
            advance()
            time.sleep(_POLL_S)
    raise ConnectTimeoutError(f"{server} was not connected within {timeout:g} s")


def _when(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
