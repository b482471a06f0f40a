"""`giru secrets set|get|list|delete|rotate-key`: secrets through the REST API, values write-only.

A value comes from a file or an environment variable, never from the command line (where shell
history and `ps` would see it), and no command prints one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import Column, age
from giru.cli.output import Format, print_objects
from giru.cli.resources import OutputOption
from giru.errors import ValidationError

__all__ = ["app"]

app = typer.Typer(
    no_args_is_help=True, help="Secrets for upstream credentials: set, list, delete, rotate-key."
)

_DEFAULT_KEY = "value"
_FILE_LIMIT = 1024 * 1024  # the API's body limit; the secret store's own cap is smaller
_COLUMNS: tuple[Column, ...] = (
    ("NAME", lambda s: str(s.get("name", "-"))),
    ("VERSION", lambda s: str(s.get("version", "-"))),
    ("BACKEND", lambda s: str(s.get("backend", "-"))),
    ("ENTRIES", lambda s: ",".join(s.get("entries") or []) or "-"),
    ("SIZE", lambda s: str(s.get("size", "-"))),
    ("UPDATED", lambda s: age(s.get("updatedAt"))),
    ("BY", lambda s: str(s.get("updatedBy", "-"))),
)
FromFile = Annotated[
    list[str] | None,
    typer.Option(
        "--from-file",
        help="[KEY=]PATH: an entry from a file (UTF-8; one trailing newline dropped). "
        "KEY defaults to `value`. Repeatable.",
    ),
]
FromEnv = Annotated[
    list[str] | None,
    typer.Option(
        "--from-env",
        help="[KEY=]VAR: an entry from an environment variable. KEY defaults to `value`. "
        "Repeatable.",
    ),
]


@app.command("set")
def set_secret(
    name: str,
    from_file: FromFile = None,
    from_env: FromEnv = None,
    output: OutputOption = Format.table,
) -> None:
    """Create or replace secret NAME (a new version); the value is never shown again."""
    with reported():
        data = _entries(from_file or [], from_env or [])
        with connect() as api:
            stored = api.put(f"/secrets/{name}", {"data": data})
    if output is Format.table:
        typer.echo(f"secret/{name} set (version {stored.get('version')}, {stored.get('backend')})")
    else:
        print_objects([stored], output, _COLUMNS, single=True)


@app.command("get")
def get_secret(name: str, output: OutputOption = Format.table) -> None:
    """One secret's metadata (never its value)."""
    with reported(), connect() as api:
        stored = api.get(f"/secrets/{name}")
    print_objects([stored], output, _COLUMNS, single=True)


@app.command("list")
def list_secrets(output: OutputOption = Format.table) -> None:
    """Every secret's metadata, by name."""
    with reported(), connect() as api:
        items = list(api.list_all("/secrets"))
    if not items and output is Format.table:
        typer.echo("No secrets found.", err=True)
        return
    print_objects(items, output, _COLUMNS, single=False)


@app.command("delete")
def delete_secret(name: str) -> None:
    """Delete secret NAME and every version of its value."""
    with reported(), connect() as api:
        api.delete(f"/secrets/{name}")
    typer.echo(f"secret/{name} deleted")


@app.command("rotate-key")
def rotate_key(output: OutputOption = Format.table) -> None:
    """Re-wrap every secret's data key under the current key-encryption key (no downtime)."""
    with reported(), connect() as api:
        rotation = api.post("/secrets:rotate-key")
    if output is not Format.table:
        print_objects([rotation], output, (), single=True)
        return
    made = "a new key, " if rotation.get("generated") else ""
    typer.echo(
        f"secrets key {rotation.get('keyId')}: {made}{rotation.get('rewrapped')} re-wrapped, "
        f"{rotation.get('failed')} failed"
    )


def _entries(files: list[str], variables: list[str]) -> dict[str, str]:
    if not files and not variables:
        raise ValidationError("give the value with --from-file PATH or --from-env VAR")
    data: dict[str, str] = {}
    for spec in files:
        key, path = _split(spec)
        data[key] = _read(Path(path))
    for spec in variables:
        key, variable = _split(spec)
        value = os.environ.get(variable)
        if value is None:
            raise ValidationError(f"environment variable {variable} is not set")
        data[key] = value
    return data


def _split(spec: str) -> tuple[str, str]:
    key, sep, rest = spec.partition("=")
    return (key, rest) if sep and key and rest else (_DEFAULT_KEY, spec)


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > _FILE_LIMIT:
            raise ValidationError(
                f"{path}: {size} bytes; a secret is at most 64 KiB unless the gateway's "
                "GIRU_SECRETS__MAX_BYTES allows more (1 MiB at most)"
            )
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path}: not UTF-8 text (encode binary values, e.g. base64)"
        ) from exc
    return text.removesuffix("\n").removesuffix("\r")
