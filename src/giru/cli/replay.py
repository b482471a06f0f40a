"""`giru policy replay --bundle DIR --since 7d`: what a new bundle would change over the recorded
calls (newly denied, newly allowed, newly held for approval, by control), decided by a temporary
OPA at the gateway; production is not touched (docs/policies/replay.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.output import Format, render_json, render_yaml
from giru.cli.resources import OutputOption
from giru.errors import ConfigError

__all__ = ["read_bundle", "replay"]

_MAX_FILES = 500
_READ_S = 900.0  # a replay of the most calls it takes (50,000) runs for minutes
_INDENT = "  "
_COUNTS = ("newlyDenied", "newlyAllowed", "newlyHeld")


def replay(
    bundle: Annotated[
        Path,
        typer.Option(
            "--bundle", help="A directory of packs like the shipped policies/ (Rego, data.json)."
        ),
    ],
    since: Annotated[
        str, typer.Option(help="Calls since: a duration (30m, 24h, 7d) or an RFC 3339 time.")
    ] = "7d",
    output: OutputOption = Format.table,
) -> None:
    """What DIR would change over the recorded calls: newly denied, allowed, held, by control."""
    with reported():
        files = read_bundle(bundle)
        with connect(read_s=_READ_S) as client:
            report = client.post("/policy/replay", {"files": files, "since": since})
    if output is Format.table:
        typer.echo(_render(report))
    else:
        typer.echo(render_json(report) if output is Format.json else render_yaml(report))


def read_bundle(directory: Path) -> dict[str, str]:
    """The candidate's files: every `*.rego` but tests, and every `<pack>/data.json`."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    paths = [p for p in sorted(directory.rglob("*.rego")) if not p.name.endswith("_test.rego")]
    paths += sorted(directory.glob("*/data.json"))
    found: dict[str, str] = {}
    for path in paths:
        relative = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        try:
            found[relative] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if not found:
        raise ConfigError(f"{directory}: no .rego files")
    if len(found) > _MAX_FILES:
        raise ConfigError(f"{directory}: more than {_MAX_FILES} policy files")
    return found


def _render(report: dict[str, Any]) -> str:
    lines = [
        f"Calls:          {report.get('calls', 0)} "
        f"(replayed {report.get('replayed', 0)}, skipped {report.get('skipped', 0)})",
        f"Unreproduced:   {report.get('unreproduced', 0)}",
        f"Newly denied:   {report.get('newlyDenied', 0)}",
        f"Newly allowed:  {report.get('newlyAllowed', 0)}",
        f"Newly held:     {report.get('newlyHeld', 0)}",
        "By control:",
    ]
    controls = [c for c in report.get("controls") or [] if isinstance(c, dict)]
    rows = [["PACK", "CONTROL", "DENIED", "ALLOWED", "HELD"]]
    rows += [
        [str(c.get("pack")), str(c.get("control"))] + [str(c.get(k, 0)) for k in _COUNTS]
        for c in controls
    ]
    lines += _table(rows) if controls else [f"{_INDENT}<no change>"]
    changes = [c for c in report.get("changes") or [] if isinstance(c, dict)]
    if changes:
        lines.append("Changed calls:")
        rows = [["AT", "ACTOR", "TOOL", "CHANGE", "CONTROLS"]]
        rows += [
            [
                str(c.get("at", "-"))[:19],
                str(c.get("actor", "-")),
                f"{c.get('server') or '-'}/{c.get('target') or '-'}",
                str(c.get("change", "-")),
                ", ".join(c.get("controls") or []) or "-",
            ]
            for c in changes
        ]
        lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return [
        _INDENT + "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
