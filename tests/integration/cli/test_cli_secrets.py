"""`giru secrets` against a real API: values from files and the environment, never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from giru.cli.main import app
from tests.integration.cli.conftest import VIEWER_TOKEN, RunningApi

pytestmark = pytest.mark.integration

TOKEN = "ghp_cli-secret-0123456789abcdef"


def giru(api: RunningApi, *args: str, token: str | None = None, **env: str) -> Result:
    base = api.env() if token is None else api.env(token)
    return CliRunner(env={**base, **env}).invoke(app, list(args))


def test_set_from_a_file_and_the_environment_then_list_get_delete(
    api: RunningApi, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    made = giru(api, "secrets", "set", "github-token", "--from-file", str(path))
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == "secret/github-token set (version 1, database)"
    again = giru(
        api,
        "secrets",
        "set",
        "github-token",
        "--from-file",
        str(path),
        "--from-env",
        "user=GH_USER",
        GH_USER="octocat",
    )
    assert again.exit_code == 0, again.output
    listed = giru(api, "secrets", "list", "-o", "json")
    [item] = json.loads(listed.stdout)["items"]
    assert (item["name"], item["version"], item["entries"]) == (
        "github-token",
        2,
        ["user", "value"],
    )
    table = giru(api, "secrets", "list")
    assert table.stdout.splitlines()[0].split()[:4] == ["NAME", "VERSION", "BACKEND", "ENTRIES"]
    got = giru(api, "secrets", "get", "github-token", "-o", "yaml")
    assert yaml.safe_load(got.stdout)["size"] == len('{"user":"octocat","value":""}') + len(TOKEN)
    for result in (made, again, listed, table, got):
        assert TOKEN not in result.output
    assert giru(api, "secrets", "delete", "github-token").exit_code == 0
    assert giru(api, "secrets", "get", "github-token").exit_code == 3


def test_a_value_must_come_from_a_file_or_the_environment(api: RunningApi) -> None:
    assert giru(api, "secrets", "set", "a").exit_code == 2
    unset = giru(api, "secrets", "set", "a", "--from-env", "GIRU_TEST_NOT_SET")
    assert unset.exit_code == 2
    assert "GIRU_TEST_NOT_SET is not set" in unset.output


def test_a_10_mb_file_is_refused_before_it_is_sent(api: RunningApi, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (10 * 1024 * 1024))
    result = giru(api, "secrets", "set", "big", "--from-file", str(big))
    assert result.exit_code == 2
    assert "64 KiB" in result.output
    over = tmp_path / "over"
    over.write_bytes(b"x" * (100 * 1024))
    refused = giru(api, "secrets", "set", "big", "--from-file", str(over))
    assert refused.exit_code == 2
    assert "at most 65536" in refused.output


def test_a_path_traversal_name_is_refused(api: RunningApi) -> None:
    result = giru(api, "secrets", "set", "a..b", "--from-env", "HOME")
    assert result.exit_code == 2


def test_rotate_key_needs_an_admin_and_reports(api: RunningApi) -> None:
    assert giru(api, "secrets", "rotate-key", token=VIEWER_TOKEN).exit_code == 4
    result = giru(api, "secrets", "rotate-key", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rewrapped"] == 0
