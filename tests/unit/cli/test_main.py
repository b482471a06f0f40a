"""The `giru` command: exit codes and messages a user sees."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from giru import __version__
from giru.cli.main import EXIT_CONFIG, app

REPO = Path(__file__).resolve().parents[3]


def test_version_prints_the_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_validate_counts_what_a_valid_directory_declares() -> None:
    environ = {"HOME": "/home/giru", "GITHUB_TOKEN": "t", "GIRU_ADMIN_KEY": "k"}
    result = CliRunner(env=environ).invoke(app, ["validate", str(REPO / "examples/manifests")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "ok: 4 servers, 3 virtual servers, 3 clients, 2 subscriptions, 4 environments, 0 policies"
    )


def test_validate_names_every_problem_and_exits_2(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: giru.ai/v1alpha1\nkind: MCPServer\nmetadata: {name: web}\n"
        "spec: {transport: streamable-http}\n"
    )
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == EXIT_CONFIG
    assert "bad.yaml:1: MCPServer/web: spec.url:" in result.output


def test_run_refuses_an_invalid_config_before_starting(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "missing")])
    assert result.exit_code == EXIT_CONFIG
    assert "no such file or directory" in result.output
