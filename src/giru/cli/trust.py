"""`giru tools`: the tool catalog, and the review of tool changes Giru holds (tool trust).

`giru tools` lists the catalog; `giru tools review` the held changes with their findings
(`--diff` shows what changed); `giru tools approve|reject SERVER [TOOL...]` decides them (no
tool: every pending change of the server).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from giru.cli import actions
from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import Column, age
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption

__all__ = ["app"]

app = typer.Typer(
    no_args_is_help=False, rich_markup_mode=None, help="The tool catalog and its review."
)

_COLUMNS: tuple[Column, ...] = (
    ("SERVER", lambda r: str(r.get("server", "-"))),
    ("TOOL", lambda r: str(r.get("tool", "-"))),
    ("CHANGE", lambda r: str(r.get("change", "-"))),
    ("STATE", lambda r: str(r.get("state", "-"))),
    ("FINDINGS", lambda r: _findings(r.get("findings") or [])),
    ("OFFERS", lambda r: str(r.get("offers", "-"))),
    ("DETECTED", lambda r: age(r.get("detectedAt"))),
)


@app.callback(invoke_without_command=True)
def tools(
    context: typer.Context,
    server: Annotated[str | None, typer.Option(help="Only this server's tools.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only tools with this tag.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text.")] = None,
    output: OutputOption = Format.table,
) -> None:
    """List the tool catalog (or review the changes Giru holds: see the commands)."""
    if context.invoked_subcommand is None:
        actions.tools(server=server, tag=tag, query=query, output=output)


@app.command()
def review(
    server: Annotated[str | None, typer.Argument(help="Only this server's changes.")] = None,
    rejected: Annotated[bool, typer.Option(help="Also the rejected changes.")] = False,
    diff: Annotated[bool, typer.Option(help="Show what changed in each definition.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """Tool changes held for review, with their poisoning findings."""
    params = {k: v for k, v in {"server": server}.items() if v}
    if not rejected:
        params["state"] = "pending"
    with reported(), connect() as client:
        items = list(client.get("/tool-reviews", params=params)["items"])
    if not items and output is Format.table:
        typer.echo("No tool changes held for review.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)
    if diff and output is Format.table:
        for item in items:
            typer.echo(_diff_text(item))


@app.command()
def approve(
    server: str,
    tool: Annotated[list[str] | None, typer.Argument(help="Tools (default: all pending).")] = None,
    force: Annotated[bool, typer.Option(help="Despite a high-severity finding.")] = False,
) -> None:
    """Approve held tool changes of SERVER: the offered definitions are served."""
    _decide(server, "approve", tool or [], force)


@app.command()
def reject(
    server: str,
    tool: Annotated[list[str] | None, typer.Argument(help="Tools (default: all pending).")] = None,
) -> None:
    """Reject held tool changes of SERVER: the tools stay held."""
    _decide(server, "reject", tool or [], False)


def _decide(server: str, verdict: str, tools: list[str], force: bool) -> None:
    body: dict[str, Any] = {"tools": tools, "force": force}
    with reported(), connect() as client:
        answer = client.post(f"/servers/{server}/tools/{verdict}", body)
    items = answer.get("items") or []
    if not items:
        typer.echo(f"MCPServer/{server}: no pending tool changes", err=True)
        return
    for item in items:
        typer.echo(f"MCPServer/{server} {item['tool']} ({item['change']}) {verdict}d")


def _findings(found: list[dict[str, Any]]) -> str:
    if not found:
        return "-"
    worst = max(found, key=lambda f: ("low", "medium", "high").index(f.get("severity", "low")))
    return f"{len(found)} ({worst.get('severity')}: {worst.get('rule')})"


def _diff_text(item: dict[str, Any]) -> str:
    lines = [f"\n== {item.get('server')}/{item.get('tool')} ({item.get('change')})"]
    for finding in item.get("findings") or []:
        lines.append(
            f"finding {finding.get('severity')} {finding.get('rule')}: {finding.get('reason')}"
        )
    for text in (item.get("textDiff") or {}).values():
        lines.append(text)
    for change in item.get("diff") or []:
        if change.get("path") in ("/description", "/title"):
            continue
        before, after = change.get("before"), change.get("after")
        lines.append(f"{change.get('op')} {change.get('path')}: {before!r} -> {after!r}")
    if not item.get("diffAvailable", True):
        lines.append(f"(a definition of {item.get('size')} bytes was too large to keep: no diff)")
    return "\n".join(lines)
