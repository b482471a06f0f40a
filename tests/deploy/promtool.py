"""promtool (Debian package `prometheus`, installed by scripts/peers-promtool.sh from `make peers`):
the judge of Giru's alert rules, of the dashboards' PromQL and of its /metrics exposition."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.peers import TOOLS

__all__ = ["promtool"]


def promtool(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; skip when the peers are not installed at all, fail when only it is missing."""
    binary = shutil.which("promtool")
    if binary is None:
        if not TOOLS.root.is_dir():
            pytest.skip("promtool is not installed: run `make peers`")
        pytest.fail("promtool is missing: `make peers` installs it (scripts/peers-promtool.sh)")
    return subprocess.run(
        [binary, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120
    )
