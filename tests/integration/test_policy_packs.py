"""The shipped Rego policy packs: strict compile, formatted, tests pass at 100 % coverage.

Runs the real OPA binary (`make peers` builds it into `.tools/bin/opa`) over `policies/`; a
missing binary fails the tests rather than skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICIES = REPO_ROOT / "policies"
OPA_TIMEOUT = 120.0  # seconds per opa command; the whole suite takes a few seconds


def _opa() -> Path:
    """The OPA binary: `<repo>/.tools/bin/opa`, else `opa` on PATH; a missing binary fails."""
    pinned = REPO_ROOT / ".tools" / "bin" / "opa"
    if pinned.is_file():
        return pinned
    found = shutil.which("opa")
    if found is None:
        pytest.fail(f"OPA is not installed ({pinned} missing, no opa on PATH): run `make peers`")
    return Path(found)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_opa()), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=OPA_TIMEOUT,
        check=False,
    )


def _shipped_rego() -> set[str]:
    """Every non-test Rego file under policies/, relative to the repository root."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for path in POLICIES.rglob("*.rego")
        if not path.name.endswith("_test.rego")
    }


def test_policies_pass_strict_check() -> None:
    done = _run("check", "--strict", "policies/")
    assert done.returncode == 0, done.stderr or done.stdout


def test_policies_are_formatted() -> None:
    done = _run("fmt", "--list", "policies/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"run `opa fmt -w policies/`; unformatted:\n{done.stdout}"


def test_every_rego_test_passes() -> None:
    done = _run("test", "--format=json", "policies/")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    failed = [f"{r['package']}.{r['name']}" for r in results if r.get("fail") or r.get("error")]
    assert failed == [], f"failing Rego tests: {failed}"
    assert done.returncode == 0, done.stderr
    assert len(results) > 0


def test_every_shipped_rego_file_is_fully_covered() -> None:
    done = _run("test", "--coverage", "--format=json", "policies/")
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    files: dict[str, dict[str, Any]] = report["files"]
    shipped = _shipped_rego()
    assert shipped, "no shipped .rego files under policies/"
    # A file with no evaluated line has no "coverage" key at all.
    below = {
        name: (files.get(name, {}).get("coverage", 0), files.get(name, {}).get("not_covered"))
        for name in shipped
        if files.get(name, {}).get("coverage", 0) != 100
    }
    assert below == {}, f"shipped Rego below 100 % coverage: {below}"
