"""`giru audit verify|list|export`: prove the hash chains, browse and export the audit log.

`verify` reads the database directly (`--database-url`, default `GIRU_DATABASE_URL` as the
gateway reads it), so it works while the gateway is down and trusts no API in between; `list`
goes through the REST API; `export` through either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import EXIT_ERROR, reported
from giru.cli.kinds import Column
from giru.cli.output import Format, print_objects, render_json, render_json_line, render_yaml
from giru.cli.resources import OutputOption

if TYPE_CHECKING:
    from giru.audit import Verification
    from giru.cli.chains import Writer

__all__ = ["app"]

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich's formatter alone costs more than the rest
    help="The tamper-evident audit log: verify, list, export.",
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Read this database directly (default: GIRU_DATABASE_URL, as the gateway).",
    ),
]
NodeOption = Annotated[str | None, typer.Option(help="Only this node's chain.")]
_PAGE = 500


def _cell(field: str) -> Callable[[dict[str, Any]], str]:
    return lambda item: "-" if item.get(field) is None else str(item[field])


_COLUMNS: tuple[Column, ...] = tuple(
    (header, _cell(field))
    for header, field in (
        ("AT", "at"),
        ("NODE", "node"),
        ("SEQ", "seq"),
        ("ACTOR", "actor"),
        ("ACTION", "action"),
        ("SERVER", "server"),
        ("TARGET", "target"),
        ("OUTCOME", "outcome"),
    )
)


@app.command("verify")
def verify_command(
    database_url: DatabaseOption = None,
    node: NodeOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Check every node's hash chain: exit 0 when intact, 1 naming the first bad record."""
    from giru.cli import chains  # the store: imported only by the commands that read it

    with reported():
        result = chains.verify_chains(database_url or chains.default_url(), node)
    if output is not Format.table:
        body = chains.verification_body(result)
        typer.echo(render_json(body) if output is Format.json else render_yaml(body).rstrip())
    else:
        _print_verification(result)
    if not result.ok:
        raise typer.Exit(EXIT_ERROR)


def _print_verification(result: Verification) -> None:
    checked = f"{result.records} records, {result.nodes} nodes checked"
    if result.ok:
        typer.echo(f"audit chains intact: {checked}")
        return
    for problem in result.problems:
        typer.echo(
            f"BROKEN node {problem.node} seq {problem.seq} event {problem.event_id}: "
            f"{problem.message}"
        )
    typer.echo(f"audit chains broken: {len(result.problems)} of {result.nodes} nodes ({checked})")


@app.command("list")
def list_command(
    actor: Annotated[
        str | None, typer.Option("--actor", "--client", help="Only this client.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="allowed, policy_denied, ...")] = None,
    action: Annotated[str | None, typer.Option(help="tools/call, tools/list, ...")] = None,
    server: Annotated[str | None, typer.Option(help="Only calls to this server.")] = None,
    target: Annotated[str | None, typer.Option(help="Tool, prompt or resource.")] = None,
    node: NodeOption = None,
    since: Annotated[
        str | None, typer.Option(help="From this time (RFC 3339 or date, UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (exclusive).")] = None,
    control: Annotated[
        str | None,
        typer.Option(
            help="Only records citing this compliance control, whole ('PCI DSS Req 3.4')."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    output: OutputOption = Format.table,
) -> None:
    """Audit records, newest first, via the REST API."""
    filters = _filters(actor, outcome, action, server, target, node, since, until, control)
    with reported(), connect() as api:
        items = list(
            _take(_pages(api.get, {**filters, "order": "newest"}, min(limit, _PAGE)), limit)
        )
    if not items and output is Format.table:
        typer.echo("No audit records found.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)


@app.command("export")
def export_command(
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Write here (default: stdout).")
    ] = None,
    database_url: DatabaseOption = None,
    actor: Annotated[
        str | None, typer.Option("--actor", "--client", help="Only this client.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    server: Annotated[str | None, typer.Option(help="Only this server.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    node: NodeOption = None,
    since: Annotated[str | None, typer.Option(help="From this time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (exclusive).")] = None,
    control: Annotated[str | None, typer.Option(help="Only records citing this control.")] = None,
) -> None:
    """Audit records as JSON lines: oldest first via the API (with filters), or every chain in
    (node, seq) order from the database with `--database-url` (only `--node` applies)."""
    filters = _filters(actor, outcome, action, server, target, node, since, until, control)
    with reported(), _sink(output_file) as out:
        if database_url is not None:
            from giru.cli import chains  # the store: imported only by the commands that read it

            chains.export_chains(database_url, node, out)
            return
        with connect() as api:
            for item in _pages(api.get, {**filters, "order": "oldest"}):
                out.write(render_json_line(item))


def _filters(*values: str | None) -> dict[str, str]:
    names = ("actor", "outcome", "action", "server", "target", "node", "since", "until", "control")
    return {name: value for name, value in zip(names, values, strict=True) if value}


def _pages(
    get: Callable[[str, dict[str, str]], Any], query: dict[str, str], size: int = _PAGE
) -> Iterator[Any]:
    """Every item of `GET /audit` for `query`, page after page (of `size` items)."""
    params = {**query, "limit": str(size)}
    while True:
        page = get("/audit", params)
        yield from page.get("items", [])
        cursor = page.get("nextCursor")
        if not cursor:
            return
        params["cursor"] = cursor


def _take(items: Iterable[Any], limit: int) -> Iterator[Any]:
    for count, item in enumerate(items):
        if count >= limit:
            return
        yield item


@contextmanager
def _sink(path: Path | None) -> Iterator[Writer]:
    if path is None:
        yield _Stdout()
        return
    with path.open("w", encoding="utf-8") as handle:
        yield handle


class _Stdout:
    """stdout through typer (what CliRunner captures), as a minimal text sink."""

    def write(self, text: str) -> int:
        typer.echo(text, nl=False)
        return len(text)
