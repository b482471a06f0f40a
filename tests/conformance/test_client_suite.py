"""Giru as an MCP *client*: the conformance suite's `client` scenarios that apply to a proxy, run
with a harness that puts Giru in front of the suite's mock server (harness/giru_harness.py).

For each scenario and era, the Go SDK's reference conformance client (`everything-client`) is run
twice by the suite: directly against the mock server (the baseline) and through Giru (the harness
starts `giru run` with the mock as an unprefixed upstream and points the same client at Giru). The
mock records the checks, so through Giru they judge Giru's upstream connector. Every scenario that
passes directly must pass through Giru with the same checks, and with checks at all: a harness
that does nothing passes with 0 checks.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.peers import TOOLS, conformance_entry, node_env, require_tools

pytestmark = pytest.mark.conformance

SUITE = "0.2.0-alpha.12"
CLIENT = TOOLS.bin / "everything-client"  # scripts/peers-go-conformance-client.sh
HARNESS = Path(__file__).resolve().parent / "harness" / "giru_harness.py"
GIRU = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "giru"
SCENARIO_TIMEOUT_MS = 150_000  # the suite kills the client command after this (default 30 s:
# too short for a Giru start plus a scenario, or two connect rounds, on a loaded 2-core machine)
RUN_TIMEOUT_S = 210.0

LEGACY, MODERN = "2025-11-25", "2026-07-28"

# The client scenarios of each requirement set that judge what a proxy's upstream client does
# (the authorization-code `auth/*` ones are AUTH_SCENARIOS below).
# Left out: elicitation-sep1034-client-defaults and sep-2322-client-request-state (the end
# client answers those, Giru only relays), and http-invalid-tool-headers (the end client filters
# the invalid tools; Giru passes them through).
SCENARIOS: dict[str, tuple[str, ...]] = {
    LEGACY: ("initialize", "tools_call", "sse-retry", "json-schema-2020-12-preservation"),
    MODERN: (
        "tools_call",
        "request-metadata",
        "http-standard-headers",
        "http-custom-headers",
        "json-schema-2020-12-preservation",
        "json-schema-ref-no-deref",
    ),
}

# The authorization-code scenarios of each requirement set: Giru is the OAuth client of the
# mock's authorization server (harness: a `shared` `oauth2-authorization-code` connection, which
# the harness makes as an admin would with `giru connect`, following the suite's auto-approving
# authorization server back to Giru's /oauth/callback; then the reference client runs through
# Giru). The mock's checks judge Giru's discovery, registration, authorization and token
# requests, and the calls that carry the token.
_AUTH_COMMON = (
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
)
AUTH_SCENARIOS: dict[str, tuple[str, ...]] = {
    LEGACY: _AUTH_COMMON,
    MODERN: (
        *_AUTH_COMMON,
        "auth/resource-mismatch",
        "auth/offline-access-scope",
        "auth/offline-access-not-supported",
        "auth/authorization-server-migration",
        "auth/iss-supported",
        "auth/iss-not-advertised",
        "auth/iss-supported-missing",
        "auth/iss-wrong-issuer",
        "auth/iss-unexpected",
        "auth/iss-normalized",
        "auth/metadata-issuer-mismatch",
    ),
}
# Authorization-code scenarios that pass directly but cannot pass through Giru, each with why
# (`<era> <scenario>: reason`). The test fails when a listed one passes, or an unlisted one fails.
AUTH_EXPECTED = Path(__file__).with_name("client_auth_expected.yaml")

# Extension scenarios (io.modelcontextprotocol/oauth-client-credentials): Giru is the OAuth
# client of the mock's authorization server (harness: `oauth2-client-credentials` auth). The Go
# reference client does not implement them, so there is no direct baseline: the harness drives
# Giru with the Python SDK (list tools, call one) and the mock judges Giru's token requests.
EXTENSION_SCENARIOS: dict[str, tuple[str, ...]] = {
    LEGACY: ("auth/client-credentials-basic", "auth/client-credentials-jwt"),
    MODERN: ("auth/client-credentials-basic", "auth/client-credentials-jwt"),
}

ADD_NUMBERS_CONTENT = [{"type": "text", "text": "The sum of 5 and 3 is 8"}]


@dataclass(frozen=True)
class Run:
    """One `conformance client --scenario` run, read from its saved checks.json."""

    label: str
    exit_code: int
    checks: tuple[dict[str, Any], ...]
    output: str
    report: dict[str, Any] = field(default_factory=dict)  # the harness's (through Giru only)

    def with_status(self, *statuses: str) -> list[str]:
        return [str(c["id"]) for c in self.checks if c.get("status") in statuses]

    @property
    def passed(self) -> list[str]:
        return self.with_status("SUCCESS")

    @property
    def failed(self) -> list[str]:
        return self.with_status("FAILURE", "WARNING")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and bool(self.passed) and not self.failed

    def cell(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        total = len(self.passed) + len(self.failed)
        return f"{verdict} {len(self.passed)}/{total} (exit {self.exit_code})"

    def explain(self) -> str:
        failures = [
            f"  {c['id']}: {c.get('status')} {c.get('errorMessage', '')}"
            for c in self.checks
            if c.get("status") in ("FAILURE", "WARNING")
        ]
        parts = [f"{self.label}: exit {self.exit_code}, passed {self.passed}", *failures]
        if self.report:
            parts.append(f"  harness report: {json.dumps(self.report)[-3000:]}")
        parts.append(f"  suite output tail:\n{self.output[-3000:]}")
        return "\n".join(parts)


def run_scenario(label: str, command: str, scenario: str, version: str) -> Run:
    """`conformance client --command <command> --scenario <scenario>` at the `version` wire."""
    entry = conformance_entry(SUITE)
    with tempfile.TemporaryDirectory(prefix="giru-conformance-client-") as tmp:
        out, reports = Path(tmp) / "out", Path(tmp) / "reports"
        reports.mkdir()
        argv = [
            str(TOOLS.node),
            str(entry),
            "client",
            "--command",
            command,
            "--scenario",
            scenario,
            "--spec-version",
            version,
            "--force",
            "--timeout",
            str(SCENARIO_TIMEOUT_MS),
            "--output-dir",
            str(out),
        ]
        env = node_env({"GIRU_HARNESS_REPORT_DIR": str(reports)})
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, check=False
        )
        output = done.stdout + done.stderr
        saved = sorted(out.glob("**/checks.json"))  # auth/* scenarios nest a directory
        assert len(saved) == 1, f"{label}: no checks.json saved (exit {done.returncode}):\n{output}"
        checks = json.loads(saved[0].read_text())
        report_files = sorted(reports.glob("*.json"))
        report = json.loads(report_files[0].read_text()) if report_files else {}
    return Run(label, done.returncode, tuple(checks), output, report)


def lost_checks(direct: Run, giru: Run) -> list[str]:
    """Checks passing directly that fail or are missing through Giru. A check the suite skips
    through Giru is not lost: it judges something only the end client does (e.g. declaring
    `roots`, which the gateway's own upstream requests do not)."""
    judged = set(giru.passed) | set(giru.with_status("SKIPPED"))
    return sorted(set(direct.passed) - judged)


@dataclass
class Table:
    rows: list[tuple[str, str, Run, Run]] = field(default_factory=list)

    def render(self) -> list[str]:
        header = f"{'era':<11} {'scenario':<34} {'direct (no Giru)':<24} {'through Giru':<24}"
        lines = [header, "-" * len(header)]
        for version, scenario, direct, giru in self.rows:
            lines.append(f"{version:<11} {scenario:<34} {direct.cell():<24} {giru.cell():<24}")
            if lost := lost_checks(direct, giru):
                lines.append(f"{'':<11}   lost through Giru: {', '.join(lost)}")
            skipped = sorted(
                set(direct.passed)
                & set(giru.with_status("SKIPPED")) - set(direct.with_status("SKIPPED"))
            )
            if skipped:
                lines.append(f"{'':<11}   not exercised through Giru: {', '.join(skipped)}")
        return lines


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Iterator[Table]:
    require_tools(TOOLS.node, CLIENT, GIRU)
    collected = Table()
    yield collected
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not collected.rows:
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        reporter.write_line(f"conformance {SUITE} client scenarios, Go everything-client:")
        for line in collected.render():
            reporter.write_line(line)


def _cases(table: dict[str, tuple[str, ...]]) -> Iterator[Any]:
    for version, scenarios in table.items():
        for scenario in scenarios:
            yield pytest.param(version, scenario, id=f"{version}-{scenario}")


@pytest.mark.parametrize(("version", "scenario"), list(_cases(SCENARIOS)))
def test_scenario_through_giru_passes_what_the_client_passes_directly(
    table: Table, version: str, scenario: str
) -> None:
    direct = run_scenario("direct", shlex.quote(str(CLIENT)), scenario, version)
    harness = f"{sys.executable} {HARNESS} --client {CLIENT}"
    giru = run_scenario("through Giru", harness, scenario, version)
    table.rows.append((version, scenario, direct, giru))
    print(f"\n  {version} {scenario}: direct {direct.cell()} | giru {giru.cell()}")

    assert direct.ok, f"the reference client fails directly:\n{direct.explain()}"
    assert giru.report, f"the harness wrote no report (did it run?):\n{giru.explain()}"
    assert giru.report["client_exit"] == 0, giru.explain()
    assert giru.ok, giru.explain()
    lost = lost_checks(direct, giru)
    assert not lost, f"checks passing directly but not through Giru: {lost}\n{giru.explain()}"
    if scenario == "tools_call":
        _assert_add_numbers(giru)


def _assert_add_numbers(giru: Run) -> None:
    """The mock saw add_numbers(5, 3) as numbers, and Giru returned the mock's content."""
    (check,) = [c for c in giru.checks if c["id"] == "tool-add-numbers"]
    assert check["details"] == {"a": 5, "b": 3, "result": 8}, check
    assert giru.report.get("content") == ADD_NUMBERS_CONTENT, giru.explain()


class NoBaseline(Run):
    """The direct column of a scenario the Go reference client does not implement."""

    def cell(self) -> str:
        return "n/a (no Go client)"


def _expected_auth_differences() -> dict[str, str]:
    loaded = yaml.safe_load(AUTH_EXPECTED.read_text()) or {}
    assert isinstance(loaded, dict), f"{AUTH_EXPECTED.name}: a mapping of `<era> <scenario>: why`"
    return {str(key): str(why) for key, why in loaded.items()}


def test_expected_auth_differences_name_only_scenarios_the_suite_runs() -> None:
    known = {f"{version} {s}" for version, scenarios in AUTH_SCENARIOS.items() for s in scenarios}
    assert not _expected_auth_differences().keys() - known


@pytest.mark.timeout(2 * RUN_TIMEOUT_S + 30)  # two suite runs (direct, through Giru)
@pytest.mark.parametrize(("version", "scenario"), list(_cases(AUTH_SCENARIOS)))
def test_authorization_code_scenario_through_giru_passes_what_the_client_passes_directly(
    table: Table, version: str, scenario: str
) -> None:
    direct = run_scenario("direct", shlex.quote(str(CLIENT)), scenario, version)
    harness = f"{sys.executable} {HARNESS} --client {CLIENT}"
    giru = run_scenario("through Giru", harness, scenario, version)
    table.rows.append((version, scenario, direct, giru))
    print(f"\n  {version} {scenario}: direct {direct.cell()} | giru {giru.cell()}")

    assert direct.ok, f"the reference client fails directly:\n{direct.explain()}"
    assert giru.report, f"the harness wrote no report (did it run?):\n{giru.explain()}"
    passes = giru.ok and not lost_checks(direct, giru)
    why = _expected_auth_differences().get(f"{version} {scenario}")
    if why is not None:
        assert not passes, f"passes through Giru now: remove it from {AUTH_EXPECTED.name}"
        return
    # No client_exit check: in the scenarios where the authorization must be refused, the
    # reference client fails directly too (the suite allows it); the checks judge Giru.
    assert giru.ok, giru.explain()
    lost = lost_checks(direct, giru)
    assert not lost, f"checks passing directly but not through Giru: {lost}\n{giru.explain()}"


@pytest.mark.parametrize(("version", "scenario"), list(_cases(EXTENSION_SCENARIOS)))
def test_extension_scenario_passes_through_giru_as_the_oauth_client(
    table: Table, version: str, scenario: str
) -> None:
    harness = f"{sys.executable} {HARNESS} --client {CLIENT}"
    giru = run_scenario("through Giru", harness, scenario, version)
    table.rows.append((version, scenario, NoBaseline("direct", 0, (), ""), giru))
    print(f"\n  {version} {scenario}: giru {giru.cell()}")

    assert giru.report, f"the harness wrote no report (did it run?):\n{giru.explain()}"
    assert giru.report["client_exit"] == 0, giru.explain()
    assert giru.ok, giru.explain()
