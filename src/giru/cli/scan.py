"""`giru tools scan FILE|-`: the poisoning checks on a tools list, offline (no gateway needed).

The input is JSON: a list of tools, a `tools/list` result (`{"tools": [...]}`) or a JSON-RPC
response carrying one. The scanner and its rule pack (and PyYAML) are imported when the command
runs: every command imports this module, and `giru --help` should not pay for them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from giru.cli.exits import EXIT_ERROR, EXIT_INVALID
from giru.cli.kinds import Column
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption

__all__ = ["MAX_INPUT_BYTES", "scan"]

MAX_INPUT_BYTES = 64 * 1024 * 1024
_RANK = {"low": 0, "medium": 1, "high": 2}
_COLUMNS: tuple[Column, ...] = (
    ("TOOL", lambda f: str(f["tool"])),
    ("SEVERITY", lambda f: str(f["severity"])),
    ("RULE", lambda f: str(f["rule"])),
    ("FIELD", lambda f: str(f["field"])),
    ("REASON", lambda f: str(f["reason"])),
)


def scan(
    file: Annotated[str, typer.Argument(help="A JSON tools list, or - for standard input.")],
    server: Annotated[str, typer.Option(help="The server the tools come from.")] = "-",
    known: Annotated[
        list[str] | None, typer.Option(help="Another server's tool (server__tool); repeatable.")
    ] = None,
    approved: Annotated[
        list[str] | None,
        typer.Option(
            help="A tool of this server already approved (FILE: what changed); repeatable."
        ),
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 1 when a finding is at least: low, medium or high.")
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """Check tool definitions for poisoning (hidden text, look-alike names, instructions to the
    model, secret requests, exfiltration), offline."""
    from giru.trust.findings import scan as scan_tools  # the rule pack loads PyYAML

    if fail_on is not None and fail_on not in _RANK:
        _refuse(f"--fail-on must be low, medium or high, not {fail_on!r}")
    tools = _tools(_read(file))
    found = scan_tools(server, tools, known_tools=known or (), approved_tools=approved or ())
    findings = [_shown(f) for f in found]
    if not findings and output is Format.table:
        typer.echo(f"No findings in {len(tools)} tools.", err=True)
    else:
        print_objects(findings, output, _COLUMNS, single=False)
    if fail_on is not None and any(_RANK[f["severity"]] >= _RANK[fail_on] for f in findings):
        raise typer.Exit(EXIT_ERROR)


def _shown(finding: Any) -> dict[str, str]:
    return {k: getattr(finding, k) for k in ("tool", "severity", "rule", "field", "reason")}


def _read(file: str) -> Any:
    if file == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    else:
        try:
            with Path(file).open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            _refuse(f"cannot read {file}: {exc.strerror}")
    if len(data) > MAX_INPUT_BYTES:
        _refuse(f"{file} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        _refuse(f"{file} is not JSON: {exc}")


def _tools(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document = document["result"]
    if isinstance(document, dict):
        document = document.get("tools")
    if not isinstance(document, list):
        _refuse('expected a list of tools, {"tools": [...]} or a tools/list response')
    return [tool for tool in document if isinstance(tool, dict)]


def _refuse(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INVALID)
