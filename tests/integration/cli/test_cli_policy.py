"""`giru policy ...`: Rego checked and tested by the real OPA binary, and Policy objects and
decisions through the real REST API (its policy engine is the conftest's fake)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from giru.cli.exits import EXIT_INVALID
from giru.cli.main import app
from giru.cli.rego import REPO
from tests.integration.cli.conftest import RunningApi, rows

pytestmark = pytest.mark.integration

OPA = REPO / ".tools" / "bin" / "opa"
HEADER = "apiVersion: giru.ai/v1alpha1\n"
GOOD = """\
package example

default allow := false

allow if input.user == "admin"
"""
GOOD_TEST = """\
package example_test

import data.example

test_admin_is_allowed if example.allow with input as {"user": "admin"}
"""
BROKEN = """\
package broken

allow if {
\tinput.x ==
}
"""
POLICY = (
    HEADER + "kind: Policy\nmetadata: {name: pci}\n"
    "spec:\n  packs: [core, pci_dss]\n  selector: {servers: [payments]}\n"
    "  data: {pci_dss: {mask_results: false}}\n"
)
SERVER = (
    HEADER + "kind: MCPServer\nmetadata: {name: payments}\nspec: {transport: stdio, command: x}\n"
)

needs_opa = pytest.mark.skipif(not OPA.is_file(), reason="OPA is installed by `make peers`")


def local(*args: str, **env: str) -> Result:
    return CliRunner(env={"GIRU_POLICY__OPA_BINARY": str(OPA), **env}).invoke(app, list(args))


def giru(api: RunningApi, *args: str) -> Result:
    return CliRunner(env=api.env()).invoke(app, list(args))


def policies(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@needs_opa
def test_validate_passes_a_clean_directory(tmp_path: Path) -> None:
    good = policies(tmp_path / "good", **{"a.rego": GOOD, "a_test.rego": GOOD_TEST})

    result = local("policy", "validate", "--no-shipped", str(good))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"ok: 2 Rego files in {good}"


@needs_opa
def test_validate_shows_opas_error_with_file_and_line(tmp_path: Path) -> None:
    good = policies(tmp_path / "good", **{"a.rego": GOOD})
    bad = policies(tmp_path / "bad", **{"b.rego": BROKEN})

    result = local("policy", "validate", "--no-shipped", str(good), str(bad))

    assert result.exit_code == EXIT_INVALID
    assert result.stderr.startswith("error: opa check --strict failed:\n")
    assert f"{bad / 'b.rego'}:5: rego_parse_error" in result.stderr


@needs_opa
def test_validate_lists_files_opa_fmt_would_change(tmp_path: Path) -> None:
    ugly = policies(tmp_path / "ugly", **{"u.rego": "package ugly\nallow    if   input.x == 1\n"})

    result = local("policy", "validate", "--no-shipped", str(ugly))

    assert result.exit_code == EXIT_INVALID
    assert "1 file(s) not formatted; run `opa fmt -w`" in result.stderr
    assert str(ugly / "u.rego") in result.stderr


def test_validate_says_how_to_get_opa_when_it_is_missing(tmp_path: Path) -> None:
    good = policies(tmp_path / "good", **{"a.rego": GOOD})
    missing = tmp_path / "no-such-opa"

    result = local(
        "policy", "validate", "--no-shipped", str(good), GIRU_POLICY__OPA_BINARY=str(missing)
    )

    assert result.exit_code == EXIT_INVALID
    assert result.stderr.strip() == f"error: policy.opa_binary {missing}: not an executable file"


def test_validate_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = local("policy", "validate", "--no-shipped", str(tmp_path / "nowhere"))

    assert result.exit_code == EXIT_INVALID
    assert "nowhere: no such directory" in result.stderr


@needs_opa
def test_test_runs_the_rego_tests_and_prints_coverage(tmp_path: Path) -> None:
    good = policies(tmp_path / "good", **{"a.rego": GOOD, "a_test.rego": GOOD_TEST})

    result = local("policy", "test", "--no-shipped", str(good))

    assert result.exit_code == 0, result.output
    assert "PASS: 1/1" in result.stdout
    table = rows(result.stdout.split("PASS: 1/1", 1)[1])
    assert table[0] == ["FILE", "COVERAGE"]
    assert table[1][0] == str(good / "a.rego")
    assert table[-1][0] == "total"
    below = local("policy", "test", "--no-shipped", "--threshold", "100", str(good))
    assert below.exit_code == 1
    assert f"below 100% coverage: {good / 'a.rego'}" in below.stderr


@needs_opa
def test_test_fails_when_a_rego_test_fails(tmp_path: Path) -> None:
    failing = GOOD_TEST.replace('"admin"}', '"bob"}')
    good = policies(tmp_path / "good", **{"a.rego": GOOD, "a_test.rego": failing})

    result = local("policy", "test", "--no-shipped", str(good))

    assert result.exit_code == 1
    assert "FAIL: 1/1" in result.stdout
    assert "error: opa test failed" in result.stderr


def test_policy_objects_are_applied_listed_described_and_deleted(
    api: RunningApi, tmp_path: Path
) -> None:
    (tmp_path / "server.yaml").write_text(SERVER)
    (tmp_path / "policy.yaml").write_text(POLICY)
    assert giru(api, "apply", "-f", str(tmp_path / "server.yaml")).exit_code == 0
    refused = giru(api, "policy", "apply", "-f", str(tmp_path / "server.yaml"))
    assert refused.exit_code == EXIT_INVALID
    assert "not Policy documents" in refused.stderr

    applied = giru(api, "policy", "apply", "-f", str(tmp_path / "policy.yaml"))
    assert (applied.exit_code, applied.stdout.strip()) == (0, "policy/pci created")

    listed = rows(giru(api, "policy", "list").stdout)
    assert listed[0] == ["NAME", "PACKS", "SELECTOR", "AGE"]
    assert listed[1][:3] == ["pci", "core,pci_dss", "servers=payments"]
    as_yaml = yaml.safe_load(giru(api, "get", "policies", "pci", "-o", "yaml").stdout)
    assert as_yaml["spec"]["data"] == {"pci_dss": {"mask_results": False}}
    described = giru(api, "policy", "describe", "pci").stdout
    assert "Kind:         Policy" in described
    assert "  - pci_dss" in described
    assert "create" in described.split("Events:", 1)[1]
    created = giru(api, "policy", "create", "all", "--pack", "core")
    assert (created.exit_code, created.stdout.strip()) == (0, "policy/all created")
    in_use = giru(api, "server", "delete", "payments")
    assert in_use.exit_code == 5
    assert "Policy/pci" in in_use.stderr
    deleted = giru(api, "policy", "delete", "pci", "all")
    assert deleted.stdout.splitlines() == ["policy/pci deleted", "policy/all deleted"]


def test_eval_exits_0_when_allowed_and_1_when_denied(api: RunningApi, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed.json"
    allowed.write_text(json.dumps({"mcp": {"tool": {"name": "echo"}, "arguments": {"x": 1}}}))
    denied = tmp_path / "denied.yaml"
    denied.write_text("input:\n  mcp:\n    arguments: {card: '4111 1111 1111 1111'}\n")

    ok = giru(api, "policy", "eval", "-f", str(allowed))
    no = giru(api, "policy", "eval", "-f", str(denied))
    as_json = giru(api, "policy", "eval", "-f", str(denied), "-o", "json")

    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines()[0] == "Decision:  allow"
    assert no.exit_code == 1
    lines = no.stdout.splitlines()
    assert lines[0] == "Decision:  deny"
    assert lines[lines.index("Deny:") + 1].split() == ["PACK", "CONTROL", "MESSAGE"]
    assert lines[lines.index("Deny:") + 2].split()[:4] == ["pci_dss", "PCI", "DSS", "Req"]
    assert lines[lines.index("Redact:") + 2].split() == ["result", "pan", "mask"]
    assert lines[lines.index("Alerts:") + 1] == "  <none>"
    assert "  controls:" in lines
    assert (as_json.exit_code, json.loads(as_json.stdout)["allow"]) == (1, False)


def test_eval_reports_bad_input_and_an_unavailable_engine(api: RunningApi, tmp_path: Path) -> None:
    broken_json = tmp_path / "in.json"
    broken_json.write_text("{not json")
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- 1\n")
    unavailable = tmp_path / "down.json"
    unavailable.write_text(json.dumps({"mcp": {"arguments": {"broken": True}}}))

    invalid = giru(api, "policy", "eval", "-f", str(broken_json))
    not_object = giru(api, "policy", "eval", "-f", str(a_list))
    down = giru(api, "policy", "eval", "-f", str(unavailable))

    assert invalid.exit_code == EXIT_INVALID
    assert invalid.stderr.startswith(f"error: {broken_json}: not a JSON or YAML document")
    assert not_object.exit_code == EXIT_INVALID
    assert "the input document must be an object" in not_object.stderr
    assert down.exit_code == 1
    assert down.stderr.strip() == "error: no policy engine is attached"


def test_status_shows_the_engine(api: RunningApi) -> None:
    result = giru(api, "policy", "status")
    as_json = giru(api, "policy", "status", "-o", "json")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Active:      no",
        "Revision:    -",
        "Packs:       -",
        "OPA:         none",
        "Last Error:  no policy engine is attached",
    ]
    assert json.loads(as_json.stdout)["active"] is False


def test_describe_client_shows_its_claims(api: RunningApi, tmp_path: Path) -> None:
    (tmp_path / "client.yaml").write_text(
        HEADER + "kind: Client\nmetadata: {name: nurse}\n"
        "spec:\n  apiKeyEnv: HOME\n  claims: {user_id: u-17, role: nurse, mfa: true}\n"
    )
    assert giru(api, "apply", "-f", str(tmp_path / "client.yaml")).exit_code == 0

    described = giru(api, "client", "describe", "nurse").stdout

    spec = described.split("Spec:\n", 1)[1].split("Status:", 1)[0]
    assert "  claims:\n    user_id: u-17\n    role: nurse\n    mfa: true\n" in spec
