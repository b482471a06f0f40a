"""The official conformance suite against Giru in front of the Go fixture, side by side with the
fixture measured directly in the same run: Giru must pass every scored scenario the fixture passes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.gateway import RunningGiru, http_server, run_giru
from tests.peers import ConformanceResult, run_conformance

pytestmark = pytest.mark.conformance

_TIMEOUT = 600.0


def _vs(name: str, server: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: {name}}}
spec:
  servers: [{server}]
  prefix: false
  auth: none
"""


@pytest.fixture(scope="module")
def giru(
    go_fixture_legacy: str, go_fixture_modern: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            http_server("fixture-legacy", "streamable-http", go_fixture_legacy),
            http_server("fixture-modern", "streamable-http", go_fixture_modern),
            _vs("legacy", "fixture-legacy"),
            _vs("modern", "fixture-modern"),
        ]
    )
    with run_giru(manifests, tmp_path_factory.mktemp("giru-conformance")) as running:
        yield running


def _side_by_side(direct: ConformanceResult, giru: ConformanceResult) -> None:
    print(f"\n  direct: {direct.summary()}\n  giru:   {giru.summary()}")
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
    ],
)
def test_suite_through_giru_passes_what_the_fixture_passes(
    giru: RunningGiru,
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


def test_legacy_suite_0_1_16_passes_all_scenarios_through_giru(giru: RunningGiru) -> None:
    result = run_conformance(
        "0.1.16", ["server", "--suite", "all", "--url", giru.url("/mcp/legacy")], _TIMEOUT
    )
    print(f"\n  giru: {result.summary()}")
    assert len(result.scenarios) == 32
    assert result.failing == ()
