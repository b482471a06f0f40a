"""The OPA binary run locally, for `giru policy validate` and `giru policy test`.

OPA is found at the `policy.opa_binary` setting (`GIRU_POLICY__OPA_BINARY`), else at
`<repo>/.tools/bin/opa` (what `make peers` installs), else as `opa` on PATH. Its own messages
(`file.rego:LINE: rego_parse_error: ...`) are passed through: they are the actionable part.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from giru.errors import ConfigError, GiruError
from giru.policy.bundle import CHECKOUT, shipped_policies
from giru.policy.engine import OPA_INSTALL_HINT, find_opa

__all__ = [
    "REPO",
    "Coverage",
    "OpaResult",
    "check",
    "coverage",
    "find_opa",
    "run_opa",
    "run_tests",
    "shipped_policies",
    "unformatted",
]

REPO = CHECKOUT
TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class OpaResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message(self) -> str:
        """What OPA said about a failure (stderr, else stdout), trimmed."""
        return (self.stderr.strip() or self.stdout.strip()) or f"opa exited {self.returncode}"


@dataclass(frozen=True, slots=True)
class Coverage:
    """`opa test --coverage`: percent per file (None: nothing coverable) and overall."""

    files: dict[str, float | None]
    total: float


def run_opa(opa: Path, *args: str, timeout_s: float = TIMEOUT_S) -> OpaResult:
    """Run `opa ARGS...` to completion (bounded by `timeout_s`)."""
    try:
        # The binary is the operator's own (settings, the checkout, PATH); arguments are paths.
        done = subprocess.run(  # noqa: S603
            [str(opa), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GiruError(f"opa {args[0]} did not finish within {timeout_s:.0f}s") from exc
    except OSError as exc:
        raise ConfigError(f"cannot run {opa}: {exc.strerror}; {OPA_INSTALL_HINT}") from exc
    return OpaResult(done.returncode, done.stdout, done.stderr)


def check(opa: Path, dirs: list[Path]) -> OpaResult:
    """`opa check --strict`: parse and compile every module of `dirs` together."""
    return run_opa(opa, "check", "--strict", *map(str, dirs))


def unformatted(opa: Path, dirs: list[Path]) -> list[str]:
    """Files `opa fmt` would change."""
    result = run_opa(opa, "fmt", "--list", *map(str, dirs))
    if not result.ok:
        raise GiruError(f"opa fmt failed: {result.message()}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def run_tests(opa: Path, dirs: list[Path], *, verbose: bool = False) -> OpaResult:
    """`opa test`: every `test_` rule of `dirs` (the report is OPA's own)."""
    return run_opa(opa, "test", *(["--verbose"] if verbose else []), *map(str, dirs))


def coverage(opa: Path, dirs: list[Path]) -> Coverage:
    """Line coverage of the policies (test files left out) after a passing `opa test`."""
    result = run_opa(opa, "test", "--coverage", "--format=json", *map(str, dirs))
    if not result.ok:
        raise GiruError(f"opa test --coverage failed: {result.message()}")
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError as exc:
        raise GiruError("opa test --coverage: the report is not JSON") from exc
    files: dict[str, float | None] = {}
    covered = missed = 0
    for name, item in sorted(report.get("files", {}).items()):
        if name.endswith("_test.rego"):
            continue
        covered += int(item.get("covered_lines", 0))
        missed += int(item.get("not_covered_lines", 0))
        files[name] = item.get("coverage") if item.get("covered_lines") else _empty(item)
    total = 100.0 * covered / (covered + missed) if covered + missed else 100.0
    return Coverage(files, total)


def _empty(item: dict[str, Any]) -> float | None:
    """A file none of whose lines ran: 0 %, or None when it has nothing to run."""
    return 0.0 if item.get("not_covered_lines") else None
