"""`giru users list|revoke`: the people signed in through Giru's authorization server, and
revoking one's access at once."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import Column, age
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption

__all__ = ["app"]

app = typer.Typer(
    no_args_is_help=True, help="People who signed in with OAuth: list them, revoke one's access."
)

_COLUMNS: tuple[Column, ...] = (
    ("EMAIL", lambda u: str(u.get("email", "-"))),
    ("GROUPS", lambda u: ",".join(u.get("groups") or []) or "-"),
    ("ACTIVE", lambda u: f"{u.get('activeRefreshFamilies', 0)}/{u.get('refreshFamilies', 0)}"),
    ("LAST SEEN", lambda u: age(u.get("lastSeen"))),
    ("REVOKED", lambda u: age(u.get("revokedAt"))),
)
_REVOKED_COLUMNS: tuple[Column, ...] = (
    ("EMAIL", lambda r: str(r.get("email", "-"))),
    ("NOT BEFORE", lambda r: str(r.get("notBefore", "-"))),
    ("REFRESH FAMILIES REVOKED", lambda r: str(r.get("refreshFamiliesRevoked", 0))),
)


@app.command("list")
def list_users(output: OutputOption = Format.table) -> None:
    """People who signed in, most recent first (ACTIVE: live sign-ins / all)."""
    with reported(), connect() as api:
        body = api.get("/users")
    items = [item for item in body.get("items", []) if isinstance(item, dict)]
    if not items and output is Format.table:
        typer.echo("No users found.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)


@app.command("revoke")
def revoke_user(
    email: Annotated[str, typer.Argument(help="The person's email.")],
    output: OutputOption = Format.table,
) -> None:
    """Revoke a person's access now: their access and refresh tokens stop working on every
    worker; they may sign in again."""
    with reported(), connect() as api:
        revoked = api.post(f"/users/{quote(email, safe='@')}/revoke")
    if output is Format.table:
        families = revoked.get("refreshFamiliesRevoked", 0)
        typer.echo(
            f"user/{revoked.get('email')} revoked (tokens issued before "
            f"{revoked.get('notBefore')} refused; {families} refresh families revoked)"
        )
    else:
        print_objects([revoked], output, _REVOKED_COLUMNS, single=True)
