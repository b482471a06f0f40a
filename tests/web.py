"""The web UI's tools for tests: its directory, the built assets and its Node scripts."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.peers import REPO_ROOT, TOOLS, node_env

WEB = REPO_ROOT / "web"
BUILT = REPO_ROOT / "src" / "giru" / "ui" / "index.html"
CHROMIUM = Path("/usr/bin/chromium")


def require_web(*paths: Path) -> None:
    """Fail (with what to run) when `make setup` / `make services` left something out."""
    needed = (TOOLS.node, WEB / "node_modules" / ".giru-lock", BUILT, *paths)
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make setup services`")


def run_node(
    argv: list[str], *, timeout: float = 300.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` (a script or a node_modules/.bin tool, relative to web/) run by Node 22 in web/."""
    return subprocess.run(
        [str(TOOLS.node), *argv],
        cwd=WEB,
        env=node_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
