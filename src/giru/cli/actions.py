"""Commands beyond CRUD: subscription transitions, client keys, server sync, the tool catalog."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import BY_KIND, Column, age
from giru.cli.output import Format, print_api_keys, print_objects, progress
from giru.cli.resources import OutputOption

__all__ = [
    "approve",
    "client_keys",
    "reject",
    "resume",
    "revoke_key",
    "rotate_key",
    "suspend",
    "sync_server",
    "tools",
]

_SUBSCRIPTION = BY_KIND["Subscription"]
_CLIENT = BY_KIND["Client"]
_SERVER = BY_KIND["MCPServer"]
_DESCRIPTION = 60


ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in the change log).")]


def _transition(
    name: str, action: Literal["approve", "reject", "suspend", "resume"], reason: str | None
) -> None:
    body = {} if reason is None else {"reason": reason}
    with reported(), connect() as client:
        updated = client.post(f"{_SUBSCRIPTION.item_path(name)}/{action}", body)
    status = (updated or {}).get("spec", {}).get("status") or "updated"
    typer.echo(f"{_SUBSCRIPTION.resource}/{name} {status}")


def approve(name: str, reason: ReasonOption = None) -> None:
    """Approve a pending subscription (pending → active)."""
    _transition(name, "approve", reason)


def reject(name: str, reason: ReasonOption = None) -> None:
    """Reject a pending subscription (pending → rejected)."""
    _transition(name, "reject", reason)


def suspend(name: str, reason: ReasonOption = None) -> None:
    """Suspend an active subscription (active → suspended)."""
    _transition(name, "suspend", reason)


def resume(name: str, reason: ReasonOption = None) -> None:
    """Resume a suspended subscription (suspended → active)."""
    _transition(name, "resume", reason)


_KEY_COLUMNS: tuple[Column, ...] = (
    ("ID", lambda k: str(k.get("id", "-"))),
    ("PREFIX", lambda k: str(k.get("prefix") or "-")),
    ("SOURCE", lambda k: str(k.get("source", "-"))),
    ("AGE", lambda k: age(k.get("createdAt"))),
)


def client_keys(name: str, output: OutputOption = Format.table) -> None:
    """List a client's active API keys (prefixes only; keys are never stored)."""
    with reported(), connect() as client:
        keys = _items(client.get(f"{_CLIENT.item_path(name)}/keys"))
    if not keys:
        typer.echo("No keys found.", err=True)
        return
    print_objects(keys, output, _KEY_COLUMNS, single=False)


def rotate_key(
    name: str,
    revoke_old: Annotated[bool, typer.Option(help="Revoke every other key afterwards.")] = False,
) -> None:
    """Generate a new key for a client and show it once."""
    with reported(), connect() as client:
        path = f"{_CLIENT.item_path(name)}/keys"
        created = client.post(path)
        new_id = str(created.get("id", "-"))
        typer.echo(f"{_CLIENT.resource}/{name} key {new_id} created")
        print_api_keys([(f"{_CLIENT.resource}/{name}", str(created.get("apiKey", "")))])
        if revoke_old:
            for key in _items(client.get(path)):
                if key.get("id") != new_id:
                    client.delete(f"{path}/{key['id']}")
                    typer.echo(f"{_CLIENT.resource}/{name} key {key['id']} revoked")


def revoke_key(name: str, key_id: str) -> None:
    """Revoke one of a client's keys (see `giru client keys NAME` for ids)."""
    with reported(), connect() as client:
        client.delete(f"{_CLIENT.item_path(name)}/keys/{key_id}")
    typer.echo(f"{_CLIENT.resource}/{name} key {key_id} revoked")


def sync_server(name: str) -> None:
    """Fetch a server's tool list now and record it in the catalog."""
    with reported(), connect() as client, progress(f"syncing {name}", None):
        result = client.post(f"{_SERVER.item_path(name)}/sync")
    counts = ", ".join(f"{result.get(k, 0)} {k}" for k in ("added", "changed", "removed"))
    typer.echo(f"{_SERVER.resource}/{name} synced: {result.get('tools', 0)} tools ({counts})")


_TOOL_COLUMNS: tuple[Column, ...] = (
    ("SERVER", lambda t: str(t.get("server", "-"))),
    ("TOOL", lambda t: str(t.get("name", "-"))),
    ("TAGS", lambda t: ",".join(t.get("tags") or []) or "-"),
    ("AVAILABLE", lambda t: "yes" if t.get("available", True) else "no"),
    ("DESCRIPTION", lambda t: _first_line(t.get("description"))),
)


def tools(
    server: Annotated[str | None, typer.Option(help="Only this server's tools.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only tools with this tag.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text.")] = None,
    output: OutputOption = Format.table,
) -> None:
    """List the tool catalog."""
    params = {k: v for k, v in {"server": server, "tag": tag, "q": query}.items() if v}
    with reported(), connect() as client:
        found = list(client.list_all("/tools", params))
    if not found:
        typer.echo("No tools found.", err=True)
        return
    print_objects(found, output, _TOOL_COLUMNS, single=False)


def _items(body: Any) -> list[dict[str, Any]]:
    items = body.get("items", []) if isinstance(body, dict) else body
    return [item for item in items or [] if isinstance(item, dict)]


def _first_line(text: Any) -> str:
    line = str(text or "-").strip().splitlines()[0] if text else "-"
    return line if len(line) <= _DESCRIPTION else line[: _DESCRIPTION - 1] + "…"
