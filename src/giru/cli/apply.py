"""`giru apply -f PATH` and `giru diff -f PATH`: manifests against the live objects.

Both validate every document locally first and send nothing when one is invalid (exit 2).
`apply` sends them all in one `POST /api/v1/apply` (one transaction on the server); `diff`
compares canonical specs and exits 1 when anything differs, like kubectl diff. A field the store
fills in itself (a Subscription's `status` when the manifest names none) is compared as it would
be after applying.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import BY_KIND
from giru.cli.manifests import LocalDocument, read_local
from giru.cli.output import print_api_keys, progress
from giru.cli.problems import ApiError
from giru.errors import ValidationError

if TYPE_CHECKING:
    from giru.cli.client import ApiClient

__all__ = ["Files", "apply", "diff", "render_diff", "send_documents"]

Files = Annotated[
    list[Path],
    typer.Option("--filename", "-f", help="A manifest file or directory; repeatable."),
]
_PROGRESS_FROM = 6  # documents; fewer finish before a bar would be seen


def apply(
    files: Files,
    dry_run: Annotated[
        bool, typer.Option(help="Report what would change; change nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option(help="Also delete objects managed through the API but not in the files.")
    ] = False,
) -> None:
    """Create or update every object in the manifests, in one transaction."""
    with reported():
        documents = read_local(files)
    send_documents(documents, dry_run=dry_run, prune=prune)


def send_documents(documents: Sequence[LocalDocument], *, dry_run: bool, prune: bool) -> None:
    """`POST /apply` validated documents and print one line per object (and generated keys)."""
    with reported():
        body = {"documents": [d.body() for d in documents], "prune": prune}
        query = {"dryRun": "true" if dry_run else "false"}
        many = len(documents) >= _PROGRESS_FROM
        with (
            connect() as client,
            progress(f"applying {len(documents)} documents", None, enabled=many),
        ):
            results = _sent(documents, lambda: client.post("/apply", body, query))
    suffix = " (dry run)" if dry_run else ""
    keys: list[tuple[str, str]] = []
    for result in results.get("results", []):
        label = f"{str(result.get('kind', '?')).lower()}/{result.get('name', '?')}"
        action = "pruned" if result.get("action") == "deleted" else result.get("action")
        typer.echo(f"{label} {action}{suffix}")
        if result.get("apiKey"):
            keys.append((label, str(result["apiKey"])))
    print_api_keys(keys)


def _sent(documents: Sequence[LocalDocument], send: Callable[[], Any]) -> Any:
    """`send()`; the server's 422 field errors become local-style `file:index: Kind/name` lines."""
    try:
        return send()
    except ApiError as exc:
        if exc.code != "validation_failed" or not exc.errors:
            raise
        problems = [_located(documents, error) for error in exc.errors]
        summary = f"{len(problems)} problem(s); nothing was applied:\n" + "\n".join(problems)
        raise ValidationError(summary, data={"problems": problems}) from exc


def _located(documents: Sequence[LocalDocument], error: dict[str, Any]) -> str:
    where = f"{error.get('field') or '(document)'}: {error.get('reason', '')}"
    index = error.get("document")
    if not isinstance(index, int) or not 0 <= index < len(documents):
        return where
    doc = documents[index]
    return f"{doc.source}: {doc.kind}/{doc.name}: {where}"


def diff(files: Files) -> None:
    """Show how the live objects differ from the manifests; exit 1 when they do."""
    with reported():
        documents = read_local(files)
        changed = 0
        many = len(documents) >= _PROGRESS_FROM
        with connect() as client, progress("comparing", len(documents), enabled=many) as advance:
            for document in documents:
                live = _live_spec(client, document)
                local = _as_applied(document, live)
                text = render_diff(document.kind, document.name, live, local)
                advance()
                if text:
                    changed += 1
                    typer.echo(text, nl=False)
    if changed:
        raise typer.Exit(1)


def _live_spec(client: ApiClient, document: LocalDocument) -> dict[str, Any] | None:
    try:
        live = client.get(BY_KIND[document.kind].item_path(document.name))
    except ApiError as exc:
        if exc.code == "not_found":
            return None
        raise
    spec = live.get("spec") if isinstance(live, dict) else None
    return spec if isinstance(spec, dict) else {}


def _as_applied(document: LocalDocument, live: dict[str, Any] | None) -> dict[str, Any]:
    """The local spec as the store would keep it: a Subscription without a status keeps its own."""
    local = document.spec()
    if document.kind == "Subscription" and local.get("status") is None and live is not None:
        local["status"] = live.get("status")
    return local


def render_diff(kind: str, name: str, live: dict[str, Any] | None, local: dict[str, Any]) -> str:
    """A unified diff of two canonical specs as YAML ('' when equal); all `+` when new."""
    if live == local:
        return ""
    label = f"{kind.lower()}/{name}"
    before = [] if live is None else _yaml_lines(live)
    after = _yaml_lines(local)
    lines = difflib.unified_diff(
        before,
        after,
        fromfile="/dev/null" if live is None else f"live/{label}",
        tofile=f"local/{label}",
    )
    return "".join(lines)


def _yaml_lines(spec: dict[str, Any]) -> list[str]:
    import yaml  # only `diff` needs it; `giru --help` should not load it (bench/startup.py)

    text = yaml.safe_dump({"spec": spec}, sort_keys=True, allow_unicode=True)
    return text.splitlines(keepends=True)
