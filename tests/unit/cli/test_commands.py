"""Commands that stop before the API: bad input exits 2 and sends nothing; no context exits 4."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from giru.cli.main import app

HEADER = "apiVersion: giru.ai/v1alpha1\n"
# Nothing listens on port 9 (discard) on loopback: a request would fail with exit 1, not 2.
UNREACHABLE = {"GIRU_API_URL": "http://127.0.0.1:9", "GIRU_TOKEN": "secret-token"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), **UNREACHABLE}


def giru(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(app, list(args))


def test_apply_reports_every_invalid_document_and_exits_2(
    tmp_path: Path, env: dict[str, str]
) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        HEADER + "kind: MCPServer\nmetadata: {name: ok}\nspec: {transport: stdio, command: x}\n"
        "---\n" + HEADER + "kind: MCPServer\nmetadata: {name: web}\nspec: {transport: sse}\n"
        "---\n" + HEADER + "kind: Subscription\nmetadata: {name: s}\n"
        "spec: {client: c, server: web, scopeTools: [a, a]}\n"
    )
    result = giru(env, "apply", "-f", str(manifest))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: 2 problem(s); nothing was sent:",
        f"{manifest}:2: MCPServer/web: spec.url: required when transport is sse",
        f"{manifest}:3: Subscription/s: spec.scopeTools: lists a tool more than once",
    ]


@pytest.mark.parametrize("command", ["apply", "diff"])
def test_a_missing_path_is_invalid_input(command: str, env: dict[str, str], tmp_path: Path) -> None:
    result = giru(env, command, "-f", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "no such file or directory" in result.stderr


def test_an_unreachable_api_exits_1_without_showing_the_token(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = giru(env, "get", "servers")
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
    assert "secret-token" not in result.output


def test_without_a_context_commands_exit_4_and_say_how_to_log_in(tmp_path: Path) -> None:
    result = giru(
        {"XDG_CONFIG_HOME": str(tmp_path), "GIRU_API_URL": "", "GIRU_TOKEN": ""}, "get", "vs"
    )
    assert result.exit_code == 4
    assert "giru login" in result.stderr


def test_an_unknown_kind_exits_2(env: dict[str, str]) -> None:
    result = giru(env, "get", "gateways")
    assert result.exit_code == 2
    assert "unknown resource type 'gateways'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["server", "create", "web", "--transport", "sse"], "MCPServer/web: spec.url: required"),
        (
            ["server", "create", "web", "--url", "ftp://x/"],
            "spec.url: scheme must be http or https",
        ),
        (["server", "create", "web", "--url", "http://x", "--header", "bad"], "expected KEY=VALUE"),
        (["client", "create"], "give a NAME"),
        (["client", "create", "ci", "--api-key-env", "bad-name"], "spec.apiKeyEnv: must be"),
        (
            ["subscription", "create", "s", "--client", "c", "--server", "x"],
            "spec.scopeTools: list at least one tool when scopeType is selective",
        ),
        (
            [
                "subscription",
                "create",
                "s",
                "--client",
                "c",
                "--server",
                "x",
                "--all-tools",
                "--expires-at",
                "tomorrow",
            ],
            "spec.expiresAt: must be an RFC 3339 timestamp",
        ),
        (["vs", "create", "v"], "VirtualServer/v: spec: list at least one of servers or tools"),
        (["env", "create", "qa", "--require-mfa"], "No such option: --require-mfa"),
        (["get", "servers", "-l", "status"], "--filter 'status': expected KEY=VALUE"),
    ],
)
def test_invalid_flags_exit_2_before_any_request(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = giru(env, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_create_from_a_file_refuses_other_kinds(env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "c.yaml"
    manifest.write_text(HEADER + "kind: Client\nmetadata: {name: c}\nspec: {}\n")
    result = giru(env, "server", "create", "-f", str(manifest))
    assert result.exit_code == 2
    assert f"not MCPServer documents: {manifest}:1: Client/c" in result.stderr


def test_every_group_offers_the_kubectl_verbs(env: dict[str, str]) -> None:
    for group in ("server", "client", "subscription", "vs", "env"):
        result = giru(env, group, "--help")
        assert result.exit_code == 0
        for verb in ("list", "get", "create", "delete", "describe"):
            assert verb in result.stdout, (group, verb)
