"""The official conformance suite against Giru in front of two upstreams, side by side with each
upstream measured directly in the same run: Giru must pass every scored scenario it passes.

The upstreams: the Go SDK's fixture (one process per era) and tests/conformance/dual_era_server.py,
a Python SDK low-level `Server` serving both eras on one endpoint whose sampling and elicitation
tools ask through the session back-channel; through Giru each client must reach it in its own era.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.integration.gateway import RunningGiru, http_server, run_giru, virtual_server
from tests.peers import ConformanceResult, run_conformance
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.conformance

_TIMEOUT = 600.0


Front = RunningGiru | Stack
"""One `giru run`, or the production topology (make stack): Envoy over xDS, two workers."""


@pytest.fixture(scope="module", params=["giru", "envoy-stack"])
def giru(
    request: pytest.FixtureRequest,
    go_fixture_legacy: str,
    go_fixture_modern: str,
    python_dual_era: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Front]:
    manifests = "---".join(
        [
            http_server("fixture-legacy", "streamable-http", go_fixture_legacy),
            http_server("fixture-modern", "streamable-http", go_fixture_modern),
            http_server("python-dual-era", "streamable-http", python_dual_era),
            virtual_server("legacy", ["fixture-legacy"], prefix=False, auth="none"),
            virtual_server("modern", ["fixture-modern"], prefix=False, auth="none"),
            virtual_server("python", ["python-dual-era"], prefix=False, auth="none"),
        ]
    )
    if request.param == "giru":
        with run_giru(manifests, tmp_path_factory.mktemp("giru-conformance")) as running:
            yield running
        return
    with running_stack(tmp_path_factory.mktemp("stack-conformance"), manifests) as stack:
        yield stack


def _side_by_side(direct: ConformanceResult, giru: ConformanceResult) -> None:
    rows = [f"{'':8}{'passed':>8}{'failed':>8}{'scenarios':>11}  failing"]
    for label, run in (("direct", direct), ("giru", giru)):
        rows.append(
            f"{label:8}{run.passed:>8}{run.failed:>8}{len(run.scenarios):>11}  {list(run.failing)}"
        )
    print(f"\n  conformance {giru.version} {' '.join(giru.argv[2:])}\n  " + "\n  ".join(rows))
    through = {s.name: s for s in giru.scenarios}
    scored_passing = [
        s.name for s in direct.scenarios if s.ok and s.passed and s.name not in direct.unscored
    ]
    regressions = {
        name: through.get(name)
        for name in scored_passing
        if through.get(name) is None or not through[name].ok or not through[name].passed
    }
    assert not regressions, f"scenarios passing directly but not through Giru: {regressions}"


@pytest.mark.parametrize(
    ("requirements", "fixture", "path"),
    [
        ("2025-11-25", "go_fixture_legacy", "/mcp/legacy"),
        ("2026-07-28", "go_fixture_modern", "/mcp/modern"),
        ("2025-11-25", "python_dual_era", "/mcp/python"),
        ("2026-07-28", "python_dual_era", "/mcp/python"),
    ],
)
def test_suite_through_giru_passes_what_the_fixture_passes(
    giru: Front,
    request: pytest.FixtureRequest,
    requirements: str,
    fixture: str,
    path: str,
) -> None:
    direct_url = request.getfixturevalue(fixture)
    args = ["server", "--requirements", requirements]
    direct = run_conformance("0.2.0-alpha.12", [*args, "--url", direct_url], _TIMEOUT)
    through = run_conformance("0.2.0-alpha.12", [*args, "--url", giru.url(path)], _TIMEOUT)
    assert through.scenarios, through.stdout[-2000:]
    _side_by_side(direct, through)


@pytest.mark.parametrize(
    ("fixture", "path"),
    [("go_fixture_legacy", "/mcp/legacy"), ("python_dual_era", "/mcp/python")],
)
def test_legacy_suite_0_1_16_passes_all_scenarios_through_giru(
    giru: Front, request: pytest.FixtureRequest, fixture: str, path: str
) -> None:
    args = ["server", "--suite", "all", "--url"]
    direct = run_conformance("0.1.16", [*args, request.getfixturevalue(fixture)], _TIMEOUT)
    through = run_conformance("0.1.16", [*args, giru.url(path)], _TIMEOUT)
    _side_by_side(direct, through)
    assert len(through.scenarios) == 32
    assert through.failing == ()


async def _listing_and_results(url: str, mode: str) -> tuple[list[Any], list[Any]]:
    async with (
        create_mcp_http_client() as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client,
    ):
        tools = [tool.model_dump(mode="json") for tool in (await client.list_tools()).tools]
        results = [
            (await client.call_tool(name, {})).model_dump(mode="json", exclude={"meta"})
            for name in _CONTENT_TOOLS
        ]
        return tools, results


_CONTENT_TOOLS = ("test_simple_text", "test_image_content", "test_embedded_resource")


@pytest.mark.parametrize(
    ("mode", "fixture", "path"),
    [
        ("legacy", "go_fixture_legacy", "/mcp/legacy"),
        ("2026-07-28", "go_fixture_modern", "/mcp/modern"),
        ("legacy", "python_dual_era", "/mcp/python"),
        ("2026-07-28", "python_dual_era", "/mcp/python"),
    ],
)
async def test_tool_definitions_and_results_through_giru_equal_the_fixtures_own(
    giru: Front, request: pytest.FixtureRequest, mode: str, fixture: str, path: str
) -> None:
    """Lossless pass-through, checked on content: every tool definition (schemas, annotations,
    unknown fields) and every result arrives exactly as the fixture sends it."""
    direct_tools, direct_results = await _listing_and_results(
        request.getfixturevalue(fixture), mode
    )
    giru_tools, giru_results = await _listing_and_results(giru.url(path), mode)
    assert giru_tools == direct_tools
    assert giru_results == direct_results
    assert direct_results[0]["content"][0]["type"] == "text"
