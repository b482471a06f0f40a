"""The real MCP peers start, answer MCP, and the Go fixture's own conformance baseline holds.

These numbers are what Giru in front of the same fixture must later reproduce.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mcp
import pytest
from mcp.client.sse import sse_client

from tests.peers import CONFORMANCE_BASELINE, ConformanceResult, run_conformance

pytestmark = pytest.mark.integration

SUITE_TIMEOUT = 90.0  # seconds for a whole suite run; each takes 1-3 s on these machines
GO_FIXTURE = "mcp-conformance-test-server"
EVERYTHING = "mcp-servers/everything"


async def _tool_names(client: mcp.Client) -> set[str]:
    listed = await client.list_tools()
    return {tool.name for tool in listed.tools}


@pytest.mark.parametrize(
    ("fixture", "mode", "protocol", "server", "tool"),
    [
        ("go_fixture_legacy", "legacy", "2025-11-25", GO_FIXTURE, "test_simple_text"),
        ("go_fixture_legacy", "auto", "2025-11-25", GO_FIXTURE, "test_simple_text"),
        ("go_fixture_modern", "legacy", "2025-11-25", GO_FIXTURE, "test_simple_text"),
        ("go_fixture_modern", "auto", "2026-07-28", GO_FIXTURE, "test_simple_text"),
        ("everything_http", "legacy", "2025-11-25", EVERYTHING, "echo"),
        ("everything_http", "auto", "2025-11-25", EVERYTHING, "echo"),
    ],
)
async def test_http_peer_initializes_and_lists_tools(
    request: pytest.FixtureRequest, fixture: str, mode: str, protocol: str, server: str, tool: str
) -> None:
    url: str = request.getfixturevalue(fixture)
    async with mcp.Client(url, mode=mode, read_timeout_seconds=10) as client:
        assert client.protocol_version == protocol
        if client.server_info is not None:  # a pinned modern connection skips server/discover
            assert client.server_info.name == server
        assert tool in await _tool_names(client)


async def test_go_fixture_modern_call_returns_its_fixed_text(go_fixture_modern: str) -> None:
    async with mcp.Client(go_fixture_modern, mode="2026-07-28", read_timeout_seconds=10) as c:
        result = await c.call_tool("test_simple_text", {})
    assert [block.model_dump()["text"] for block in result.content] == [
        "This is a simple text response for testing."
    ]


async def test_everything_sse_initializes_and_lists_tools(everything_sse: str) -> None:
    async with mcp.Client(sse_client(everything_sse), mode="legacy") as client:
        assert client.server_info is not None
        assert client.server_info.name == EVERYTHING
        assert "echo" in await _tool_names(client)


@pytest.mark.parametrize(
    ("fixture", "tool"),
    [
        ("everything_stdio_argv", "echo"),
        ("memory_stdio_argv", "create_entities"),
        ("go_fixture_stdio_argv", "test_simple_text"),
    ],
)
async def test_stdio_peer_lists_tools(
    request: pytest.FixtureRequest, fixture: str, tool: str
) -> None:
    argv: list[str] = request.getfixturevalue(fixture)
    params = mcp.StdioServerParameters(command=argv[0], args=argv[1:])
    async with mcp.Client(params, mode="legacy", read_timeout_seconds=10) as client:
        assert tool in await _tool_names(client)


async def test_filesystem_stdio_reads_inside_its_root(
    filesystem_stdio_argv: Callable[[Path], list[str]], tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("hello from giru")
    argv = filesystem_stdio_argv(tmp_path)
    params = mcp.StdioServerParameters(command=argv[0], args=argv[1:])
    async with mcp.Client(params, mode="legacy", read_timeout_seconds=10) as client:
        result = await client.call_tool("read_text_file", {"path": str(tmp_path / "hello.txt")})
    assert "hello from giru" in result.model_dump_json()


def _report(key: str, result: ConformanceResult) -> None:
    print(f"\n{result.summary()}\n  baseline[{key}] = {CONFORMANCE_BASELINE[key]}")


def test_conformance_2025_11_25_all_pass_on_legacy_fixture(go_fixture_legacy: str) -> None:
    args = ["server", "--url", go_fixture_legacy, "--requirements", "2025-11-25"]
    result = run_conformance("0.2.0-alpha.12", args, SUITE_TIMEOUT)
    key = "0.2.0-alpha.12 --requirements 2025-11-25 (legacy fixture)"
    _report(key, result)
    assert result.exit_code == 0, result.stdout
    assert result.failing == ()
    assert result.totals == CONFORMANCE_BASELINE[key]


def test_conformance_2026_07_28_fails_only_unscored_tasks_on_modern_fixture(
    go_fixture_modern: str,
) -> None:
    args = ["server", "--url", go_fixture_modern, "--requirements", "2026-07-28"]
    result = run_conformance("0.2.0-alpha.12", args, SUITE_TIMEOUT)
    key = "0.2.0-alpha.12 --requirements 2026-07-28 (modern fixture)"
    _report(key, result)
    assert result.exit_code == 0, result.stdout
    assert result.scored_failing == ()
    # The fixture does not implement the tasks extension; the suite reports but never scores it.
    assert result.failing
    assert all(name.startswith("tasks-") for name in result.failing)
    assert all(result.unscored[name] == "extension" for name in result.failing)
    assert result.totals == CONFORMANCE_BASELINE[key]


def test_conformance_0_1_16_suite_all_passes_on_legacy_fixture(go_fixture_legacy: str) -> None:
    args = ["server", "--url", go_fixture_legacy, "--suite", "all"]
    result = run_conformance("0.1.16", args, SUITE_TIMEOUT)
    key = "0.1.16 --suite all (legacy fixture)"
    _report(key, result)
    assert result.exit_code == 0, result.stdout
    assert result.failing == ()
    assert result.totals == CONFORMANCE_BASELINE[key]
