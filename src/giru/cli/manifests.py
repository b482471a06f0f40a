"""Reading and validating manifest files locally, before anything is sent to the API.

Every document is checked on its own with the same pydantic models (and their `problems()`) the
server uses; references between documents are the server's to check, since the objects they
name may already exist there. Problems read `file:doc-index: Kind/name: field.path: reason`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from giru.errors import ValidationError

if TYPE_CHECKING:
    from giru.manifests.documents import Document

# The loader's per-document reading (strict YAML, duplicate keys refused, field-level problems)
# is what `giru validate` reports; reusing it keeps both commands' messages identical. It is
# imported by the functions that read manifests, not here: the models (pydantic, the manifests
# package) are most of a command's start-up, and `giru --help` should not pay for them.

__all__ = ["LocalDocument", "new_document", "read_local", "validate_body"]


@dataclass(frozen=True, slots=True)
class LocalDocument:
    source: str  # file:index, the index counted from 1 within its file
    document: Document

    @property
    def kind(self) -> str:
        return self.document.kind

    @property
    def name(self) -> str:
        return self.document.metadata.name

    def body(self) -> dict[str, Any]:
        """The document in canonical form (defaults filled in), as the API stores it."""
        return self.document.model_dump(mode="json", by_alias=True)

    def spec(self) -> dict[str, Any]:
        """The canonical spec: what `giru diff` compares with the live object's."""
        return self.document.spec.model_dump(mode="json", by_alias=True)


def read_local(paths: Sequence[str | os.PathLike[str]]) -> list[LocalDocument]:
    """Every document of every file (directories: their `*.yaml`/`*.yml`, sorted by name).

    Raises:
        ValidationError: listing every problem, one per line; `data["problems"]` holds them.
        ConfigError: a path does not exist, or a directory holds no manifests.
    """
    from giru.manifests.loader import read_documents, sort_problems

    problems: list[str] = []
    documents: list[LocalDocument] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        for located in read_documents(path, problems):
            local = LocalDocument(located.source, located.document)
            first = seen.setdefault((local.kind, local.name), local.source)
            if first != local.source:
                who = f"{local.kind}/{local.name}"
                problems.append(f"{local.source}: {who}: metadata.name: duplicate of {first}")
            documents.append(local)
    if problems:
        sort_problems(problems)
        summary = f"{len(problems)} problem(s); nothing was sent:\n" + "\n".join(problems)
        raise ValidationError(summary, data={"problems": problems})
    return documents


def validate_body(raw: dict[str, Any], source: str = "(flags)") -> LocalDocument:
    """Validate one document built in memory (e.g. from command-line flags)."""
    from giru.manifests.loader import parse_document

    problems: list[str] = []
    parsed = parse_document(raw, source, problems)
    if problems or parsed is None:
        lines = [p.removeprefix(f"{source}: ") for p in problems]
        raise ValidationError("invalid input:\n" + "\n".join(lines), data={"problems": lines})
    return LocalDocument(source, parsed)


def new_document(kind: str, name: str, spec: dict[str, Any]) -> LocalDocument:
    """A validated document of `kind` named `name` (this API version) from command-line flags."""
    from giru.manifests.documents import API_VERSION

    document = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    return validate_body({**document, "spec": spec})
