"""Reading manifest files into a `Config`, reporting every problem at once.

Each problem is one line: `file:document-index: Kind/name: field.path: reason` (document index
counted from 1 within its file); YAML syntax errors are `file: line L, column C: invalid YAML: ...`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from giru.errors import ConfigError
from giru.manifests.compiler import compile_config
from giru.manifests.config import Config, Located
from giru.manifests.documents import API_VERSION, KINDS, Document
from giru.manifests.fields import Problem
from giru.manifests.problems import field_path, reason

__all__ = [
    "check_document",
    "load",
    "manifest_files",
    "parse_document",
    "read_documents",
    "sort_problems",
]

_KINDS = KINDS
_SUFFIXES = (".yaml", ".yml")


def load(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Load a manifest file, or every `*.yaml`/`*.yml` directly in a directory (sorted by name).

    Args:
        path: a file or a directory; files may hold several documents separated by `---`.
        environ: where `${VAR}` references and `apiKeyEnv` are looked up (default `os.environ`).
        cwd: what relative `command`/`cwd` paths resolve against (default: the process's cwd).

    Raises:
        ConfigError: listing every problem found, one per line; `data["problems"]` holds them.
    """
    problems: list[str] = []
    entries = read_documents(path, problems)
    config, cross_problems = compile_config(entries, environ=environ, cwd=cwd)
    problems.extend(cross_problems)
    sort_problems(problems)
    if problems:
        summary = f"{len(problems)} problem(s) in {os.fspath(path)}:\n" + "\n".join(problems)
        raise ConfigError(summary, data={"problems": problems})
    return config


def read_documents(path: str | os.PathLike[str], problems: list[str]) -> list[Located]:
    """Every valid document of the manifests at `path` (a file or a directory's `*.yaml`), each
    checked on its own; what is wrong is appended to `problems`, one line per problem."""
    entries: list[Located] = []
    for file in manifest_files(path):
        for index, raw in enumerate(_read(file, problems), start=1):
            if raw is None:  # an empty document, e.g. after a trailing `---`
                continue
            document = parse_document(raw, f"{file}:{index}", problems)
            if document is not None:
                entries.append(Located(f"{file}:{index}", document))
    return entries


def sort_problems(problems: list[str]) -> None:
    """Problems of one file together, by document index (file-level ones first)."""
    problems.sort(key=_position)


def _position(problem: str) -> tuple[str, int]:
    """Sort key: problems of one file together, by document index (file-level ones first)."""
    where = problem.split(": ", 1)[0]
    file, _, index = where.rpartition(":")
    return (file, int(index)) if index.isdigit() else (where, 0)


def manifest_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files `load(path)` reads, in order; raises `ConfigError` when there are none."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ConfigError(f"{root}: no such file or directory", data={"problems": []})
    files = sorted(p for p in root.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if not files:
        message = f"{root}: no *.yaml or *.yml manifests in this directory"
        raise ConfigError(message, data={"problems": [message]})
    return files


def _read(file: Path, problems: list[str]) -> list[Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot read: {exc}")
        return []
    try:
        return list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problems.append(f"{file}: {where}invalid YAML: {exc.problem or exc.context}")
    except yaml.YAMLError as exc:
        problems.append(f"{file}: invalid YAML: {exc}")
    return []


def parse_document(raw: Any, source: str, problems: list[str]) -> Document | None:
    """Validate one document read from `source` (`file:index`); None when it is unusable."""
    document, found = check_document(raw)
    if not isinstance(raw, dict):
        problems.extend(f"{source}: {reason}" for _, reason in found)
        return None
    kind = raw.get("kind")
    who = f"{kind if isinstance(kind, str) else '?'}/{_name_of(raw)}"
    problems.extend(f"{source}: {who}: {path}: {reason}" for path, reason in found)
    return document


def check_document(raw: Any) -> tuple[Document | None, list[Problem]]:
    """One document checked on its own: the document (None when unusable) and every problem as
    `(field.path, reason)`, the very pairs `giru apply` and `giru validate` print. The API's
    apply reports these too, so a form validated there reads like the command line."""
    if not isinstance(raw, dict):
        return None, [("", "document must be a mapping with apiVersion, kind, metadata, spec")]
    if raw.get("apiVersion") != API_VERSION:
        got = raw.get("apiVersion")
        reason = "required" if got is None else f"unsupported {got!r}; expected {API_VERSION}"
        return None, [("apiVersion", reason)]
    kind = raw.get("kind")
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        expected = ", ".join(sorted(_KINDS))
        reason = (
            "required" if kind is None else f"unknown kind {kind!r}; expected one of {expected}"
        )
        return None, [("kind", reason)]
    found: list[Problem] = []
    dropped: set[str] = set()
    try:
        document: Document | None = model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        found.extend(_described(err) for err in errors)
        document, dropped = _without_bad_fields(model, raw, errors)
    if document is not None:
        found.extend(
            (path, reason)
            for path, reason in document.spec.problems()
            if not _depends_on(path, dropped)
        )
    return document, found


def _depends_on(path: str, dropped: set[str]) -> bool:
    """Whether a cross-field problem at `path` may be an artefact of dropping invalid fields."""
    if path == "spec":  # rules about the spec as a whole cannot be judged with fields missing
        return bool(dropped)
    return any(path == d or path.startswith(f"{d}.") for d in dropped)


def _without_bad_fields(
    model: type[Document], raw: dict[Any, Any], errors: list[ErrorDetails]
) -> tuple[Document | None, set[str]]:
    """The document minus its invalid spec fields, to report cross-field problems in the same run.

    The load fails anyway; this only lets the rest of the document be checked and its name count
    for references, so one typo does not cascade into "no MCPServer named ...".
    """
    spec = raw.get("spec")
    if not isinstance(spec, dict) or any(
        len(err["loc"]) < 2 or err["loc"][0] != "spec" for err in errors
    ):
        return None, set()
    bad = {err["loc"][1] for err in errors}
    try:
        document = model.model_validate(
            {**raw, "spec": {k: v for k, v in spec.items() if k not in bad}}
        )
    except ValidationError:
        return None, set()
    return document, {f"spec.{name}" for name in bad}


def _name_of(raw: dict[Any, Any]) -> str:
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else "?"


def _described(error: ErrorDetails) -> Problem:
    path, is_key = field_path(error["loc"])
    return path or "(document)", f"{'key: ' if is_key else ''}{reason(error)}"


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class reports it with its position
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)
