"""`giru audit list` and `giru audit export` against the real REST API over a SQLite store, and
`giru audit export --database-url` straight from the database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from giru.audit import link
from giru.cli.main import app
from giru.store import Store
from tests.integration.cli.conftest import PEPPER, VIEWER_TOKEN, RunningApi, rows
from tests.unit.audit.data import AT, record

pytestmark = pytest.mark.integration

_PCI = "PCI DSS Req 3.4"
_DENIED = {"status": 403, "policy": {"controls": [_PCI]}, "violations": [{"control": _PCI}]}


def giru(api: RunningApi, *args: str) -> Result:
    return CliRunner(env=api.env(VIEWER_TOKEN)).invoke(app, ["audit", *args])


def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}"


async def seed(tmp_path: Path) -> list[str]:
    """Audit records in the API's database (the `api` fixture's SQLite file); their event ids
    in (node, seq) order. The third, denied, cites `_PCI`."""
    made, _ = link(
        [
            *(
                record(at=AT + timedelta(seconds=i))
                if i != 2
                else record(at=AT + timedelta(seconds=i), outcome="policy_denied", details=_DENIED)
                for i in range(4)
            ),
            record(node="node-2", at=AT + timedelta(seconds=10), actor="bob"),
        ],
        {},
    )
    store = await Store.open(database(tmp_path), pepper=PEPPER)
    try:
        await store.insert_audit(made)
    finally:
        await store.aclose()
    return [item["event_id"] for item in made]


async def test_list_prints_a_table_newest_first(api: RunningApi, tmp_path: Path) -> None:
    await seed(tmp_path)
    result = giru(api, "list", "--limit", "3")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0] == ["AT", "NODE", "SEQ", "ACTOR", "ACTION", "SERVER", "TARGET", "OUTCOME"]
    assert [(row[1], row[2], row[3]) for row in table[1:]] == [
        ("node-2", "1", "bob"),
        ("node-1", "4", "alice"),
        ("node-1", "3", "alice"),
    ]


async def test_list_filters_and_prints_json_or_yaml(api: RunningApi, tmp_path: Path) -> None:
    ids = await seed(tmp_path)
    as_json = giru(api, "list", "--outcome", "policy_denied", "-o", "json")
    assert as_json.exit_code == 0, as_json.output
    assert [item["eventId"] for item in json.loads(as_json.stdout)["items"]] == [ids[2]]
    as_yaml = giru(api, "list", "--client", "bob", "-o", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.output
    assert [item["seq"] for item in yaml.safe_load(as_yaml.stdout)["items"]] == [1]
    nothing = giru(api, "list", "--node", "node-9")
    assert (nothing.exit_code, nothing.stdout) == (0, "")


async def test_list_keeps_the_records_citing_a_control(api: RunningApi, tmp_path: Path) -> None:
    ids = await seed(tmp_path)
    table = giru(api, "list", "--control", _PCI)
    assert table.exit_code == 0, table.output
    assert [(row[2], row[-1]) for row in rows(table.stdout)[1:]] == [("3", "policy_denied")]
    as_json = giru(api, "list", "--control", _PCI, "-o", "json")
    assert [item["eventId"] for item in json.loads(as_json.stdout)["items"]] == [ids[2]]
    as_yaml = giru(api, "list", "--control", "HIPAA 164.312(b)", "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout) == {"items": []}
    exported = giru(api, "export", "--control", _PCI)
    assert [json.loads(line)["eventId"] for line in exported.stdout.splitlines()] == [ids[2]]


async def test_a_bad_control_is_reported_with_its_field(api: RunningApi) -> None:
    result = giru(api, "list", "--control", "x" * 201)
    assert result.exit_code == 2
    assert "query.control" in result.stderr


async def test_a_bad_filter_is_reported_with_its_field(api: RunningApi, tmp_path: Path) -> None:
    result = giru(api, "list", "--since", "yesterday")
    assert result.exit_code == 2
    assert "query.since" in result.stderr


async def test_export_writes_json_lines_oldest_first(api: RunningApi, tmp_path: Path) -> None:
    ids = await seed(tmp_path)
    result = giru(api, "export")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["eventId"] for line in lines] == ids
    target = tmp_path / "audit.jsonl"
    filtered = giru(api, "export", "--node", "node-1", "--output", str(target))
    assert filtered.exit_code == 0, filtered.output
    assert [json.loads(line)["seq"] for line in target.read_text().splitlines()] == [1, 2, 3, 4]


def test_export_from_the_database_matches_the_api(api: RunningApi, tmp_path: Path) -> None:
    # Not async: the command runs its own event loop (CliRunner calls it on this thread).
    asyncio.run(seed(tmp_path))
    via_api = giru(api, "export")
    direct = giru(api, "export", "--database-url", database(tmp_path))
    assert direct.exit_code == 0, direct.output
    assert direct.stdout == via_api.stdout


def test_verify_refuses_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'nope.db'}"
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", missing])
    assert result.exit_code == 2
    assert "no such database file" in result.stderr
    assert not (tmp_path / "nope.db").exists()
