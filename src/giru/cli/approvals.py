"""`giru approvals [approve ID | deny ID --reason TEXT]`: calls waiting for a person's approval
(tools tagged destructive, or held by policy) when the caller's own client cannot be asked."""

from __future__ import annotations

from typing import Annotated

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import Column, age
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption

__all__ = ["app"]

app = typer.Typer(
    invoke_without_command=True,
    help="Calls waiting for a person's approval: list them, approve or deny one.",
)

_COLUMNS: tuple[Column, ...] = (
    ("ID", lambda a: str(a.get("id", "-"))),
    ("STATUS", lambda a: str(a.get("status", "-"))),
    ("CALLER", lambda a: str(a.get("actor", "-"))),
    ("TOOL", lambda a: f"{a.get('server', '-')}/{a.get('tool', '-')}"),
    ("ARGUMENTS", lambda a: str(a.get("summary", "-"))[:60]),
    ("AGE", lambda a: age(a.get("createdAt"))),
    ("DECIDED BY", lambda a: str(a.get("decidedBy") or "-")),
)
_Id = Annotated[str, typer.Argument(help="The approval's id (apr-…), from `giru approvals`.")]


@app.callback()
def approvals(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """Calls waiting for approval first, then those decided in the last hour."""
    if ctx.invoked_subcommand is not None:
        return
    with reported(), connect() as api:
        body = api.get("/approvals")
    items = [item for item in body.get("items", []) if isinstance(item, dict)]
    if not items and output is Format.table:
        typer.echo("No calls are waiting for approval.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)


@app.command("approve")
def approve(approval: _Id, output: OutputOption = Format.table) -> None:
    """Let the waiting call run."""
    _decide(approval, "approve", None, output)


@app.command("deny")
def deny(
    approval: _Id,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; the caller's error says it.")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Refuse the waiting call: it fails with the reason."""
    _decide(approval, "deny", reason, output)


def _decide(approval: str, verb: str, reason: str | None, output: Format) -> None:
    with reported(), connect() as api:
        body = {"reason": reason} if reason else None
        decided = api.post(f"/approvals/{approval}/{verb}", body)
    if output is Format.table:
        typer.echo(f"approval/{decided.get('id')} {decided.get('status')}")
    else:
        print_objects([decided], output, _COLUMNS, single=True)
