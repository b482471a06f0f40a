"""`giru policy ...`: check and test Rego locally with OPA, and ask the gateway for decisions.

`validate` and `test` run the OPA binary on this machine over the shipped `policies/` plus the
`policy.dirs` setting plus the directories given; `apply` sends Policy manifests; `eval` asks
the running gateway's engine what it would decide (exit 0 allowed, 1 denied); `status` shows it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from giru.cli.apply import Files, send_documents
from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.manifests import read_local
from giru.cli.output import Format, print_table, render_json, render_yaml
from giru.cli.replay import replay
from giru.cli.resources import OutputOption
from giru.errors import ConfigError, GiruError, ValidationError

__all__ = ["add_commands"]

Dirs = Annotated[
    list[Path] | None,
    typer.Argument(help="Policy directories besides the shipped policies/ and policy.dirs."),
]
Shipped = Annotated[
    bool,
    typer.Option("--shipped/--no-shipped", help="Include the policy packs shipped with Giru."),
]
_INDENT = "  "


def add_commands(group: typer.Typer) -> None:
    """Add `validate`, `test`, `apply`, `eval`, `status` and `replay` to the `giru policy`
    group."""
    group.command("validate")(validate)
    group.command("test")(run_policy_tests)
    group.command("apply")(apply)
    group.command("eval")(evaluate)
    group.command("status")(status)
    group.command("replay")(replay)


def validate(dirs: Dirs = None, shipped: Shipped = True) -> None:
    """Check Rego with OPA: `opa check --strict` (syntax, types, strict mode) and `opa fmt`."""
    from giru.cli import rego  # the policy package: see _prepare

    with reported():
        opa, roots = _prepare(dirs, shipped)
        checked = rego.check(opa, roots)
        if not checked.ok:
            raise ValidationError(f"opa check --strict failed:\n{_indented(checked.message())}")
        loose = rego.unformatted(opa, roots)
        if loose:
            listed = "\n".join(f"{_INDENT}{name}" for name in loose)
            hint = "not formatted; run `opa fmt -w` on them (`opa fmt -d` shows the change)"
            raise ValidationError(f"{len(loose)} file(s) {hint}:\n{listed}")
    count = sum(1 for root in roots for _ in root.rglob("*.rego"))
    typer.echo(f"ok: {count} Rego files in {', '.join(map(str, roots))}")


def run_policy_tests(
    dirs: Dirs = None,
    shipped: Shipped = True,
    threshold: Annotated[
        float | None,
        typer.Option(help="Fail when a policy file's line coverage is below this percent."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Name every test.")] = False,
) -> None:
    """Run the Rego tests with `opa test` and print line coverage per policy file."""
    from giru.cli import rego  # the policy package: see _prepare

    with reported():
        opa, roots = _prepare(dirs, shipped)
        result = rego.run_tests(opa, roots, verbose=verbose)
        typer.echo(result.stdout.rstrip("\n"))
        if not result.ok:
            if result.stderr.strip():
                typer.echo(result.stderr.rstrip("\n"), err=True)
            raise GiruError("opa test failed")
        report = rego.coverage(opa, roots)
    rows = [[name, _percent(value)] for name, value in report.files.items()]
    print_table(["FILE", "COVERAGE"], [*rows, ["total", _percent(report.total)]])
    below = [
        name
        for name, value in report.files.items()
        if threshold is not None and value is not None and value < threshold
    ]
    if below:
        typer.echo(f"error: below {threshold:g}% coverage: {', '.join(below)}", err=True)
        raise typer.Exit(1)


def apply(
    files: Files,
    dry_run: Annotated[
        bool, typer.Option(help="Report what would change; change nothing.")
    ] = False,
) -> None:
    """Create or update the Policy objects of manifest files (like `giru apply`, Policies only)."""
    with reported():
        documents = read_local(files)
        other = [d for d in documents if d.kind != "Policy"]
        if other:
            found = ", ".join(f"{d.source}: {d.kind}/{d.name}" for d in other)
            raise ValidationError(f"not Policy documents: {found} (use `giru apply -f`)")
    send_documents(documents, dry_run=dry_run, prune=False)


def evaluate(
    file: Annotated[
        Path,
        typer.Option(
            "--filename", "-f", help="The OPA input document (JSON or YAML; - reads stdin)."
        ),
    ],
    output: OutputOption = Format.table,
) -> None:
    """What policy decides for one input document; exit 0 when allowed, 1 when denied."""
    with reported():
        document = _read_input(file)
        with connect() as client:
            decision = client.post("/policy/eval", {"input": document})
    if output is Format.table:
        typer.echo(_render_decision(decision))
    else:
        typer.echo(render_json(decision) if output is Format.json else render_yaml(decision))
    if not decision.get("allow"):
        raise typer.Exit(1)


def status(output: OutputOption = Format.table) -> None:
    """The gateway's policy engine: active or not, bundle revision, packs, OPA, last error."""
    with reported(), connect() as client:
        body = client.get("/policy/status")
    if output is not Format.table:
        typer.echo(render_json(body) if output is Format.json else render_yaml(body))
        return
    opa = str(body.get("opa", "-"))
    lines = [
        ("Active:", "yes" if body.get("active") else "no"),
        ("Revision:", body.get("revision") or "-"),
        ("Packs:", ", ".join(body.get("packs") or []) or "-"),
        ("OPA:", f"{opa} ({body['url']})" if body.get("url") else opa),
        ("Last Error:", body.get("lastError") or "-"),
    ]
    typer.echo("\n".join(f"{label:<12} {value}" for label, value in lines))


def _prepare(dirs: list[Path] | None, shipped: bool) -> tuple[Path, list[Path]]:
    """The opa binary and the policy directories to run it on.

    The settings and the policy package are imported here, by the commands that run OPA, not
    at the top: `giru --help` and the API commands should not pay for them."""
    import pydantic

    from giru.cli import rego
    from giru.settings import Settings

    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid GIRU_* settings: {exc}") from exc
    roots: list[Path] = []
    bundled = rego.shipped_policies() if shipped else None
    for root in [*([bundled] if bundled else []), *settings.policy.dirs, *(dirs or [])]:
        if not root.is_dir():
            raise ConfigError(f"{root}: no such directory")
        if root.resolve() not in {r.resolve() for r in roots}:
            roots.append(root)
    if not roots:
        raise ConfigError("no policy directories: give DIR arguments (or drop --no-shipped)")
    return rego.find_opa(settings.policy.opa_binary), roots


def _read_input(file: Path) -> dict[str, Any]:
    """The input document of a file (`{"input": {...}}` is unwrapped, like OPA's REST API)."""
    where = "stdin" if str(file) == "-" else str(file)
    import yaml  # only `eval` reads YAML; `giru --help` should not load it

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from exc
    try:
        value = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValidationError(f"{where}: not a JSON or YAML document: {exc}") from exc
    if isinstance(value, dict) and set(value) == {"input"}:
        value = value["input"]
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: the input document must be an object")
    return value


def _render_decision(decision: dict[str, Any]) -> str:
    lines = [
        f"Decision:  {'allow' if decision.get('allow') else 'deny'}",
        f"Revision:  {decision.get('revision') or '-'}",
    ]
    sections: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("Deny:", "deny", ("pack", "control", "message")),
        ("Redact:", "redact", ("target", "kind", "action")),
        ("Alerts:", "alerts", ("severity", "type", "control", "message")),
    )
    for title, key, fields in sections:
        items = [item for item in decision.get(key) or [] if isinstance(item, dict)]
        lines.append(title)
        lines += _table(fields, items) if items else [f"{_INDENT}<none>"]
    audit = decision.get("audit") or {}
    lines.append("Audit:")
    lines.append(_indented(render_yaml(audit).rstrip("\n")) if audit else f"{_INDENT}<none>")
    return "\n".join(lines)


def _table(fields: tuple[str, ...], items: list[dict[str, Any]]) -> list[str]:
    rows = [[f.upper() for f in fields]] + [[str(i.get(f, "-")) for f in fields] for i in items]
    widths = [max(len(row[c]) for row in rows) for c in range(len(fields))]
    return [
        _INDENT + "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _indented(text: str) -> str:
    return "\n".join(f"{_INDENT}{line}" for line in text.splitlines())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
