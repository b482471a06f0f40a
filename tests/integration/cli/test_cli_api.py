"""The `giru` CLI against the real REST API and store: apply, diff, CRUD, lifecycles, exit codes."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from giru.cli.main import app
from tests.integration.cli.conftest import VIEWER_TOKEN, RunningApi, by_name, rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "manifests"
HEADER = "apiVersion: giru.ai/v1alpha1\n"
EXAMPLE_OBJECTS = {
    "client/analyst",
    "client/ci",
    "client/platform-admin",
    "environment/sandbox",
    "mcpserver/filesystem",
    "mcpserver/github",
    "mcpserver/legacy-crm",
    "mcpserver/weather",
    "virtualserver/engineering",
    "virtualserver/readonly",
    "virtualserver/public-weather",
    "subscription/analyst-github",
    "subscription/ci-crm",
}


def giru(api: RunningApi, *args: str, token: str | None = None) -> Result:
    env = api.env() if token is None else api.env(token)
    return CliRunner(env=env).invoke(app, list(args))


def actions(result: Result) -> dict[str, str]:
    """`kind/name action` lines → {kind/name: action}."""
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_applying_the_examples_twice_creates_them_then_changes_nothing(api: RunningApi) -> None:
    first = giru(api, "apply", "-f", str(EXAMPLES))
    assert first.exit_code == 0, first.output
    assert actions(first) == dict.fromkeys(EXAMPLE_OBJECTS, "created")

    second = giru(api, "apply", "-f", str(EXAMPLES))
    assert second.exit_code == 0, second.output
    assert actions(second) == dict.fromkeys(EXAMPLE_OBJECTS, "unchanged")

    listed = giru(api, "get", "servers")
    assert [row[0] for row in rows(listed.stdout)] == [
        "NAME",
        "filesystem",
        "github",
        "legacy-crm",
        "weather",
    ]
    vs = json.loads(giru(api, "get", "vs", "-o", "json").stdout)
    assert by_name(vs["items"])["readonly"]["spec"]["prefix"] is False


def test_dry_run_reports_and_writes_nothing(api: RunningApi) -> None:
    result = giru(api, "apply", "-f", str(EXAMPLES / "servers.yaml"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert set(result.stdout.splitlines()) == {
        f"mcpserver/{n} created (dry run)"
        for n in ("filesystem", "github", "legacy-crm", "weather")
    }
    assert giru(api, "get", "servers").stderr.strip() == "No resources found."


def test_diff_shows_a_one_field_edit_and_exits_1(api: RunningApi, tmp_path: Path) -> None:
    assert giru(api, "apply", "-f", str(EXAMPLES)).exit_code == 0
    unchanged = giru(api, "diff", "-f", str(EXAMPLES))
    assert (unchanged.exit_code, unchanged.stdout) == (0, ""), unchanged.output

    edited = tmp_path / "manifests"
    shutil.copytree(EXAMPLES, edited)
    servers = edited / "servers.yaml"
    servers.write_text(servers.read_text().replace("127.0.0.1:3001", "127.0.0.1:3002"))
    (edited / "new.yaml").write_text(HEADER + "kind: Client\nmetadata: {name: new}\nspec: {}\n")

    result = giru(api, "diff", "-f", str(edited))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith(("---", "+++"))] == [
        "--- /dev/null",
        "+++ local/client/new",
        "--- live/mcpserver/weather",
        "+++ local/mcpserver/weather",
    ]
    changed = [
        line for line in lines if line.startswith(("-", "+")) and line[:3] not in {"---", "+++"}
    ]
    assert changed[-2:] == [
        "-  url: http://127.0.0.1:3001/mcp",
        "+  url: http://127.0.0.1:3002/mcp",
    ]


def test_an_invalid_manifest_is_reported_per_document_and_nothing_is_applied(
    api: RunningApi, tmp_path: Path
) -> None:
    (tmp_path / "a-good.yaml").write_text(
        HEADER + "kind: MCPServer\nmetadata: {name: fine}\nspec: {transport: stdio, command: x}\n"
    )
    bad = tmp_path / "b-bad.yaml"
    bad.write_text(
        HEADER
        + "kind: Client\nmetadata: {name: ok}\nspec: {}\n---\n"
        + HEADER
        + "kind: MCPServer\nmetadata: {name: broken}\n"
        "spec: {transport: streamable-http, timeouts: {call: soon}}\n"
    )
    result = giru(api, "apply", "-f", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1:] == [
        f"{bad}:2: MCPServer/broken: spec.timeouts.call: must be a duration such as 30s, 2m,"
        " 500ms or a number of seconds",
        f"{bad}:2: MCPServer/broken: spec.url: required when transport is streamable-http",
    ]
    for kind in ("servers", "clients"):
        assert giru(api, "get", kind).stderr.strip() == "No resources found."


def test_references_checked_by_the_server_name_the_document(
    api: RunningApi, tmp_path: Path
) -> None:
    manifest = tmp_path / "subs.yaml"
    manifest.write_text(
        HEADER + "kind: Subscription\nmetadata: {name: s}\n"
        "spec: {client: ghost, server: nowhere, scopeType: all}\n"
    )
    result = giru(api, "apply", "-f", str(manifest))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "error: 2 problem(s); nothing was applied:",
        f"{manifest}:1: Subscription/s: spec.client: no Client named 'ghost'",
        f"{manifest}:1: Subscription/s: spec.server: no MCPServer named 'nowhere'",
    ]
    assert giru(api, "get", "subscriptions").stderr.strip() == "No resources found."


def test_a_generated_client_key_is_shown_once_and_rotated(api: RunningApi) -> None:
    created = giru(api, "client", "create", "bot", "--server", "*")
    assert created.exit_code == 0, created.output
    first, key_line = created.stdout.splitlines()
    assert first == "client/bot created"
    assert key_line.startswith("client/bot api key: giru_")
    assert "will not be shown again" in created.stderr
    key = key_line.rsplit(" ", 1)[1]

    described = giru(api, "client", "get", "bot", "-o", "yaml")
    assert key not in described.stdout
    keys = giru(api, "client", "keys", "bot")
    assert [row[2] for row in rows(keys.stdout)] == ["SOURCE", "generated"]
    assert key.startswith(rows(keys.stdout)[1][1])

    rotated = giru(api, "client", "rotate", "bot", "--revoke-old")
    assert rotated.exit_code == 0, rotated.output
    assert "client/bot api key: giru_" in rotated.stdout
    assert rotated.stdout.splitlines()[-1].endswith("revoked")
    assert len(rows(giru(api, "client", "keys", "bot").stdout)) == 2  # header + the new key


def test_subscription_approval_lifecycle_and_conflicts(api: RunningApi) -> None:
    assert giru(api, "apply", "-f", str(EXAMPLES)).exit_code == 0
    created = giru(
        api,
        "subscription",
        "create",
        "ci-github",
        "--client",
        "ci",
        "--server",
        "github",
        "--tool",
        "search_issues",
        "--environment",
        "prod",
        "--requires-approval",
    )
    assert created.exit_code == 0, created.output
    listed = rows(giru(api, "get", "sub", "-l", "status=pending").stdout)
    assert [row[:5] for row in listed[1:]] == [
        ["ci-crm", "ci", "legacy-crm", "sandbox", "pending"],  # the example's: needs approval
        ["ci-github", "ci", "github", "prod", "pending"],
    ]

    assert giru(api, "subscription", "approve", "ci-github").stdout.strip() == (
        "subscription/ci-github active"
    )
    again = giru(api, "subscription", "approve", "ci-github")
    assert again.exit_code == 5
    assert "pending" in again.stderr
    assert giru(api, "subscription", "suspend", "ci-github").stdout.strip().endswith("suspended")
    assert giru(api, "subscription", "resume", "ci-github").stdout.strip().endswith("active")

    in_use = giru(api, "server", "delete", "github")
    assert in_use.exit_code == 5, in_use.output
    described = giru(api, "subscription", "describe", "ci-github")
    assert described.exit_code == 0, described.output
    assert "Events:" in described.stdout
    assert "approve" in described.stdout


def test_create_get_describe_delete_and_not_found(api: RunningApi) -> None:
    created = giru(api, "server", "create", "web", "--url", "https://web.example/mcp", "--tag", "x")
    assert created.stdout.strip() == "mcpserver/web created"
    duplicate = giru(api, "server", "create", "web", "--url", "https://web.example/mcp")
    assert duplicate.exit_code == 5
    obj = yaml.safe_load(giru(api, "server", "get", "web", "-o", "yaml").stdout)
    assert obj["spec"]["tags"] == ["x"]
    assert obj["metadata"]["resourceVersion"] == "1"
    described = giru(api, "server", "describe", "web").stdout
    assert "Name:         web" in described
    assert "  url: https://web.example/mcp" in described
    assert giru(api, "server", "delete", "web").stdout.strip() == "mcpserver/web deleted"
    missing = giru(api, "get", "server", "web")
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: ")


def test_server_sync_fills_the_tool_catalog(api: RunningApi) -> None:
    assert giru(api, "server", "create", "demo", "--url", "https://demo.example/mcp").exit_code == 0
    synced = giru(api, "server", "sync", "demo")
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.strip() == "mcpserver/demo synced: 2 tools (2 added, 0 changed, 0 removed)"
    tools = rows(giru(api, "tools", "--server", "demo").stdout)
    assert sorted(row[:4] for row in tools[1:]) == [
        ["demo", "add", "-", "yes"],
        ["demo", "echo", "demo", "yes"],
    ]


def test_a_viewer_may_read_but_not_write_and_a_bad_token_is_refused(api: RunningApi) -> None:
    assert giru(api, "get", "env", token=VIEWER_TOKEN).exit_code == 0
    denied = giru(api, "env", "create", "qa", token=VIEWER_TOKEN)
    assert denied.exit_code == 4
    refused = giru(api, "get", "env", token="giru_wrong")
    assert refused.exit_code == 4
    assert "giru_wrong" not in refused.output


def test_default_environments_are_listed(api: RunningApi) -> None:
    listed = rows(giru(api, "get", "environments").stdout)
    assert [row[0] for row in listed[1:]] == ["dev", "prod", "staging"]


def test_login_verifies_then_saves_a_private_context(api: RunningApi) -> None:
    runner = CliRunner(env={"XDG_CONFIG_HOME": str(api.home), "GIRU_API_URL": "", "GIRU_TOKEN": ""})
    bad = runner.invoke(app, ["login", "--url", api.url, "--token", "giru_wrong"])
    assert bad.exit_code == 4
    assert not (api.home / "giru" / "config.yaml").exists()

    good = runner.invoke(app, ["login", "--url", api.url, "--token", api.env()["GIRU_TOKEN"]])
    assert good.exit_code == 0, good.output
    assert good.stdout.strip() == f"logged in to {api.url} as ops (admin)"
    path = api.home / "giru" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert runner.invoke(app, ["whoami"]).stdout.strip() == f"ops (admin) at {api.url}"
