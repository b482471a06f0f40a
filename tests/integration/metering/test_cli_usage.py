"""`giru usage` against the real REST API over a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from giru.cli.main import app
from giru.store import Store
from tests.integration.cli.conftest import PEPPER, RunningApi, rows
from tests.unit.metering.data import record

pytestmark = pytest.mark.integration


def giru(api: RunningApi, *args: str) -> Result:
    return CliRunner(env=api.env()).invoke(app, ["usage", *args])


async def seed(tmp_path: Path) -> None:
    """Usage in the API's database (the `api` fixture's SQLite file)."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}", pepper=PEPPER)
    try:
        await store.insert_usage(
            [
                record(client="alice", duration_ms=10.0),
                record(client="alice", duration_ms=30.0, outcome="error"),
                record(client="bob", tool="add", outcome="rate_limited", status=-31429),
            ]
        )
    finally:
        await store.aclose()


async def test_usage_prints_a_table_per_group(api: RunningApi, tmp_path: Path) -> None:
    await seed(tmp_path)
    result = giru(api, "--group-by", "client")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    headers = "CLIENT CALLS ERRORS REJECTED P50 MS P95 MS BYTES IN BYTES OUT"
    assert table[0] == headers.split()
    assert table[1:] == [
        ["alice", "2", "1", "0", "20.0", "29.0", "240", "680"],
        ["bob", "1", "0", "1", "-", "-", "120", "340"],
    ]


async def test_usage_prints_json_and_yaml_like_the_api(api: RunningApi, tmp_path: Path) -> None:
    await seed(tmp_path)
    as_json = giru(api, "--tool", "echo", "-o", "json")
    assert as_json.exit_code == 0, as_json.output
    [total] = json.loads(as_json.stdout)["items"]
    assert (total["key"], total["calls"], total["durationMsP50"]) == (None, 2, 20.0)
    as_yaml = giru(api, "--group-by", "tool", "--client", "bob", "-o", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.output
    assert [item["key"] for item in yaml.safe_load(as_yaml.stdout)["items"]] == ["kit__add"]


def test_no_usage_is_said_on_stderr(api: RunningApi) -> None:
    result = giru(api)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No usage found." in result.stderr


def test_a_bad_time_exits_2(api: RunningApi) -> None:
    result = giru(api, "--from", "yesterday")
    assert result.exit_code == 2
    assert "query.from" in result.stderr


async def test_usage_groups_by_person(api: RunningApi, tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}", pepper=PEPPER)
    try:
        await store.insert_usage(
            [
                record(client="user:carol@x.example", person="carol@x.example", agent="cursor"),
                record(client="bob"),
            ]
        )
    finally:
        await store.aclose()
    result = giru(api, "--group-by", "person")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0][0] == "PERSON"
    assert [row[:2] for row in table[1:]] == [["carol@x.example", "1"], ["-", "1"]]
    only = giru(api, "--person", "carol@x.example", "--group-by", "agent", "-o", "json")
    assert only.exit_code == 0, only.output
    assert [i["key"] for i in json.loads(only.stdout)["items"]] == ["cursor"]
