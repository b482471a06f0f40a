"""`giru <kind> list|get|describe|delete` for every kind, and `giru get <kind> [name]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import KindInfo, resolve_kind
from giru.cli.output import Format, print_objects, render_describe
from giru.cli.problems import ApiError
from giru.errors import ValidationError

if TYPE_CHECKING:
    from giru.cli.client import ApiClient

__all__ = ["OutputOption", "get", "kind_app"]

OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="Output format: table, json or yaml.")
]
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter", "-l", help="KEY=VALUE list filter, repeatable (e.g. status=pending, name=gi)."
    ),
]
_EVENTS = 10


def show(info: KindInfo, name: str | None, fmt: Format, filters: list[str] | None = None) -> None:
    """Print one object (`name`) or every object of a kind, in `fmt`."""
    with reported():
        query = _filters(filters or [])
        with connect() as client:
            if name is not None:
                objects = [client.get(info.item_path(name))]
            else:
                objects = list(client.list_all(f"/{info.path}", query))
    if not objects:
        typer.echo("No resources found.", err=True)
        return
    print_objects(objects, fmt, info.columns, single=name is not None)


def get(
    kind: Annotated[str, typer.Argument(help="servers, clients, subscriptions, vs, env, ...")],
    name: Annotated[str | None, typer.Argument(help="One object; all when omitted.")] = None,
    output: OutputOption = Format.table,
    filters: FilterOption = None,
) -> None:
    """Print one object or a list, like kubectl get."""
    with reported():
        info = resolve_kind(kind)
    show(info, name, output, filters)


def kind_app(info: KindInfo, title: str) -> typer.Typer:
    """The `list`, `get`, `describe` and `delete` commands of one kind."""
    group = typer.Typer(
        no_args_is_help=True,
        rich_markup_mode=None,  # plain help, as `giru`'s (see giru.cli.main)
        help=f"{title}: list, get, create, delete, ...",
    )

    @group.command("list")
    def list_(output: OutputOption = Format.table, filters: FilterOption = None) -> None:
        """List every object of this kind."""
        show(info, None, output, filters)

    @group.command("get")
    def get_(name: str, output: OutputOption = Format.table) -> None:
        """Print one object."""
        show(info, name, output)

    @group.command()
    def describe(name: str) -> None:
        """The object as YAML with its status and recent changes."""
        with reported(), connect() as client:
            obj = client.get(info.item_path(name))
            events = _events(client, info, name)
        typer.echo(render_describe(obj, events))

    @group.command()
    def delete(names: Annotated[list[str], typer.Argument(help="One or more names.")]) -> None:
        """Delete objects (refused while a subscription or virtual server uses them)."""
        with reported(), connect() as client:
            for name in names:
                client.delete(info.item_path(name))
                typer.echo(f"{info.resource}/{name} deleted")

    return group


def _events(client: ApiClient, info: KindInfo, name: str) -> list[dict[str, Any]] | str:
    """The object's recent changes, newest first; the reason as text when unavailable."""
    query = {"kind": info.kind, "name": name, "limit": str(_EVENTS)}
    try:
        page = client.get("/changes", query)
    except ApiError as exc:
        return exc.message
    items = page.get("items", []) if isinstance(page, dict) else []
    return [item for item in items if isinstance(item, dict)]


def _filters(pairs: list[str]) -> dict[str, str]:
    query: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--filter {pair!r}: expected KEY=VALUE")
        query[key] = value
    return query
