"""Printing API objects like kubectl: `-o table` (default), `-o json`, `-o yaml`.

rich and PyYAML are imported by the functions that use them: every command imports this
module, and `giru --help` should not pay for them (bench/startup.py)."""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

from giru.cli.kinds import Column, age

__all__ = [
    "Format",
    "console",
    "print_api_keys",
    "print_objects",
    "print_table",
    "progress",
    "render_describe",
    "render_json",
    "render_json_line",
    "render_table",
    "render_yaml",
    "warn",
]


_UNBOUNDED = 100_000


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (what `CliRunner` captures in tests)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def render_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def render_json_line(value: Any) -> str:
    """One compact JSON document and a newline (JSON lines)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def render_yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A borderless table, headers in capitals, cells never wrapped (kubectl's look)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, padding=(0, 3, 0, 0), show_edge=False)
    for header in columns:
        table.add_column(header, no_wrap=True, overflow="ellipsis", header_style="bold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows as a table as wide as it needs (never truncated, like kubectl), no trailing
    blanks; headers in bold on a terminal."""
    from rich.console import Console

    out = console()
    wide = Console(
        width=_UNBOUNDED,
        file=io.StringIO(),
        force_terminal=out.is_terminal,
        color_system="auto" if out.is_terminal else None,
        highlight=False,
    )
    with wide.capture() as captured:
        wide.print(render_table(columns, rows))
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def print_objects(
    objects: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[Column], *, single: bool
) -> None:
    """Print API objects: one object alone (json/yaml) when `single`, else a list of items."""
    if fmt is Format.table:
        print_table(
            [header for header, _ in columns], [[cell(o) for _, cell in columns] for o in objects]
        )
        return
    value: Any = objects[0] if single and objects else {"items": list(objects)}
    typer.echo(render_json(value) if fmt is Format.json else render_yaml(value).rstrip("\n"))


def render_describe(obj: dict[str, Any], events: list[dict[str, Any]] | str) -> str:
    """kubectl-describe text: identity, spec and status as YAML, then recent changes."""
    meta = obj.get("metadata", {})
    lines = [
        f"Name:         {meta.get('name', '-')}",
        f"Kind:         {obj.get('kind', '-')}",
        f"UID:          {meta.get('uid', '-')}",
        f"Version:      {meta.get('resourceVersion', '-')}",
        f"Managed By:   {meta.get('managedBy', '-')}",
        f"Created:      {meta.get('createdAt', '-')} ({age(meta.get('createdAt'))} ago)",
        f"Updated:      {meta.get('updatedAt', '-')} ({age(meta.get('updatedAt'))} ago)",
        "Spec:",
        _indented(obj.get("spec")),
        "Status:",
        _indented(obj.get("status")),
        "Events:",
    ]
    if isinstance(events, str):
        lines.append(f"  <unavailable: {events}>")
    elif not events:
        lines.append("  <none>")
    else:
        lines.extend(f"  {line}" for line in _events_table(events))
    return "\n".join(lines)


def _indented(value: Any) -> str:
    if isinstance(value, dict):  # unset fields are noise in a description (json/yaml keep them)
        value = {key: item for key, item in value.items() if item is not None}
    if not value:
        return "  <none>"
    return "\n".join(f"  {line}" for line in render_yaml(value).rstrip("\n").splitlines())


def _events_table(events: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            age(e.get("at")),
            str(e.get("action", "-")),
            str(e.get("actor", "-")),
            str(e.get("version", "-")),
        ]
        for e in events
    ]
    headers = ["AGE", "ACTION", "ACTOR", "VERSION"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]


@contextmanager
def progress(
    description: str, total: int | None, *, enabled: bool = True
) -> Iterator[Callable[[], None]]:
    """A transient rich progress bar on stderr (a pulsing one when `total` is None).

    Yields `advance()`; shows nothing when disabled or when stderr is not a terminal.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    err = console(stderr=True)
    counted = () if total is None else (MofNCompleteColumn(),)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        *counted,
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not enabled or not err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def print_api_keys(keys: Sequence[tuple[str, str]]) -> None:
    """Print generated API keys (stdout, for scripts) and warn that they are shown only now."""
    if not keys:
        return
    for label, key in keys:
        typer.echo(f"{label} api key: {key}")
    warn("store the API key now: it will not be shown again")


def warn(message: str) -> None:
    """A highlighted warning on stderr."""
    from rich.text import Text

    console(stderr=True).print(Text(f"warning: {message}", style="bold yellow"))
