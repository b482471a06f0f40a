"""The reference pages name everything the code offers: every `GIRU_*` setting in
docs/operations.md (or a page its settings link to, such as credentials.md), every REST path in
docs/api.md, every `giru` command in docs/cli.md."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import typer.main
from pydantic import BaseModel

from giru.api import build_api
from giru.cli.main import app as cli
from giru.policy.serving import BUNDLE_PATH
from giru.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _variables(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """The environment variable of every leaf setting (nested sections joined with `__`)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf command's path (typer's click: a group is what has `commands`)."""
    subcommands: dict[str, Any] | None = getattr(command, "commands", None)
    if subcommands is None:
        yield path
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


def _documented_commands(text: str) -> set[tuple[str, ...]]:
    """Every command path `giru a b|c d` names (alternatives expanded), with its prefixes."""
    found: set[tuple[str, ...]] = set()
    for match in re.finditer(r"\bgiru((?: [a-z][a-z-]*(?:\|[a-z][a-z-]*)*)+)", text):
        words = [word.split("|") for word in match.group(1).split()]
        for choice in itertools.product(*words):
            found.update(choice[:end] for end in range(1, len(choice) + 1))
    return found


def _path_pattern(path: str) -> re.Pattern[str]:
    """`path` with each `{param}` matching any `{name}` placeholder, followed by no more path."""
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile(r"\{[A-Za-z_]+\}".join(map(re.escape, parts)) + r"(?![A-Za-z0-9_/{.-])")


def _with_linked_pages(page: Path) -> str:
    """`page` and the pages it links to (`[...](other.md#...)`, relative links only)."""
    text = page.read_text(encoding="utf-8")
    linked = {m.group(1) for m in re.finditer(r"\]\(([A-Za-z0-9_/.-]+\.md)(?:#[^)]*)?\)", text)}
    pages = [(page.parent / link).resolve() for link in sorted(linked)]
    return "\n".join([text, *(p.read_text(encoding="utf-8") for p in pages if p.is_file())])


def test_every_setting_is_in_operations_md() -> None:
    text = _with_linked_pages(DOCS / "operations.md")
    missing = [name for name in _variables(Settings, "GIRU_") if f"`{name}`" not in text]
    assert missing == []


def test_every_api_path_is_in_api_md() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    api = build_api(cast(Any, None), runtime=cast(Any, None), pepper=b"0" * 16)
    paths = [*api.openapi()["paths"], BUNDLE_PATH]
    assert len(paths) > 20
    assert [path for path in paths if not _path_pattern(path).search(text)] == []


def test_every_cli_command_is_in_cli_md() -> None:
    documented = _documented_commands((DOCS / "cli.md").read_text(encoding="utf-8"))
    commands = list(_commands(typer.main.get_command(cli)))
    assert len(commands) > 40
    assert [" ".join(path) for path in commands if path not in documented] == []
