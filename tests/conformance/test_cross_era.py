"""The conformance suites across eras: a client of one era through Giru to an upstream that speaks
only the other (the Go SDK's conformance fixture: its sessions process pinned `era: legacy`, its
stateless process pinned `era: modern`), side by side with the same fixture measured directly in
the client's own era.

A translator cannot make every scenario identical: the differences that are inherent to crossing
eras are listed, each with why, in `cross_era_expected.yaml`; any other scenario that passes
directly must pass through Giru, and an expected difference that no longer happens must be removed
from the file (so the list stays true).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.gateway import RunningGiru, http_server, run_giru, virtual_server
from tests.peers import ConformanceResult, run_conformance

pytestmark = pytest.mark.conformance

_TIMEOUT = 600.0
_EXPECTED = Path(__file__).with_name("cross_era_expected.yaml")


@pytest.fixture(scope="module")
def giru(
    go_fixture_legacy: str, go_fixture_modern: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            http_server("go-legacy", "streamable-http", go_fixture_legacy, era="legacy"),
            http_server("go-modern", "streamable-http", go_fixture_modern, era="modern"),
            virtual_server("legacy-only", ["go-legacy"], prefix=False, auth="none"),
            virtual_server("modern-only", ["go-modern"], prefix=False, auth="none"),
        ]
    )
    with run_giru(manifests, tmp_path_factory.mktemp("giru-cross-era")) as running:
        yield running


def _expected(run: str) -> dict[str, str]:
    listed: dict[str, dict[str, str]] = yaml.safe_load(_EXPECTED.read_text())
    return listed.get(run) or {}


def _compare(run: str, direct: ConformanceResult, through: ConformanceResult) -> None:
    expected = _expected(run)
    print(
        f"\n  {run}: direct {direct.passed} passed / {direct.failed} failed; through Giru "
        f"{through.passed} passed / {through.failed} failed; failing through Giru: "
        f"{list(through.failing)}; expected: {sorted(expected)}"
    )
    by_name = {s.name: s for s in through.scenarios}
    passing_directly = [
        s.name for s in direct.scenarios if s.ok and s.passed and s.name not in direct.unscored
    ]
    failing_through = {
        name
        for name in passing_directly
        if name not in by_name or not by_name[name].ok or not by_name[name].passed
    }
    assert not failing_through - expected.keys(), (
        f"{run}: failing through Giru, not expected: {sorted(failing_through - expected.keys())}"
    )
    assert not expected.keys() - failing_through, (
        f"{run}: listed as expected but passing now (remove them from {_EXPECTED.name}): "
        f"{sorted(expected.keys() - failing_through)}"
    )


@pytest.mark.parametrize(
    ("run", "suite", "args", "direct", "path"),
    [
        (
            "modern client, legacy-only upstream (2026-07-28)",
            "0.2.0-alpha.12",
            ["server", "--requirements", "2026-07-28"],
            "go_fixture_modern",
            "/mcp/legacy-only",
        ),
        (
            "legacy client, modern-only upstream (2025-11-25)",
            "0.2.0-alpha.12",
            ["server", "--requirements", "2025-11-25"],
            "go_fixture_legacy",
            "/mcp/modern-only",
        ),
        (
            "legacy client, modern-only upstream (0.1.16 --suite all)",
            "0.1.16",
            ["server", "--suite", "all"],
            "go_fixture_legacy",
            "/mcp/modern-only",
        ),
    ],
)
def test_across_eras_giru_passes_what_the_upstream_passes_in_the_clients_era(
    giru: RunningGiru,
    request: pytest.FixtureRequest,
    run: str,
    suite: str,
    args: list[str],
    direct: str,
    path: str,
) -> None:
    url = request.getfixturevalue(direct)
    alone = run_conformance(suite, [*args, "--url", url], _TIMEOUT)
    through = run_conformance(suite, [*args, "--url", giru.url(path)], _TIMEOUT)
    assert through.scenarios, through.stdout[-2000:]
    _compare(run, alone, through)
