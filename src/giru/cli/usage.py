"""`giru usage`: calls, errors, rejections, durations and bytes, per client, tool, day, person,
OAuth agent, ..."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import Column
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption

__all__ = ["usage"]


class GroupBy(enum.StrEnum):
    client = "client"
    subscription = "subscription"
    server = "server"
    tool = "tool"
    day = "day"
    person = "person"
    agent = "agent"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _columns(group_by: GroupBy | None) -> tuple[Column, ...]:
    key: Column = (
        (group_by.value.upper(), lambda item: str(item.get("key") or "-"))
        if group_by is not None
        else ("TOTAL", lambda _: "all")
    )
    return (
        key,
        *(
            (header, lambda item, field=field: _number(item.get(field)))
            for header, field in (
                ("CALLS", "calls"),
                ("ERRORS", "errors"),
                ("REJECTED", "rejected"),
                ("P50 MS", "durationMsP50"),
                ("P95 MS", "durationMsP95"),
                ("BYTES IN", "bytesIn"),
                ("BYTES OUT", "bytesOut"),
            )
        ),
    )


def usage(
    client: Annotated[str | None, typer.Option(help="Only this client's calls.")] = None,
    subscription: Annotated[str | None, typer.Option(help="Only this subscription's.")] = None,
    server: Annotated[str | None, typer.Option(help="Only calls to this server.")] = None,
    tool: Annotated[str | None, typer.Option(help="Only calls of this (upstream) tool.")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only this person's calls (their email).")
    ] = None,
    group_by: Annotated[
        GroupBy | None, typer.Option("--group-by", "-g", help="One row per group.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="From this time (RFC 3339 or YYYY-MM-DD, UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="Up to this time (exclusive).")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Usage of tools: calls, errors, rejections, duration percentiles and bytes."""
    filters = {
        "client": client,
        "subscription": subscription,
        "server": server,
        "tool": tool,
        "person": person,
        "from": since,
        "to": until,
        "groupBy": group_by.value if group_by is not None else None,
    }
    with reported(), connect() as api:
        body = api.get("/usage", {key: value for key, value in filters.items() if value})
    items = [item for item in body.get("items", []) if isinstance(item, dict)]
    if not items and output is Format.table:
        typer.echo("No usage found.", err=True)
        return
    print_objects(items, output, _columns(group_by), single=False)
