"""The official conformance suite's authorization-server scenarios against Giru's issuer:
metadata, and the authorization code grant with its browser step (the real IdP's sign-in form
and Giru's consent page) driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.integration.identity.broker import BrokeredGiru, brokered_giru
from tests.peers import (
    LOOPBACK,
    REPO_ROOT,
    TOOLS,
    conformance_entry,
    free_port,
    node_env,
    parse_conformance,
    require_tools,
)

pytestmark = pytest.mark.conformance

VERSION = "0.2.0-alpha.12"
BROWSER = REPO_ROOT / "tests" / "browser_sign_in.mjs"
CHROMIUM = Path("/usr/bin/chromium")
_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    with brokered_giru(tmp_path_factory.mktemp("as-conformance")) as running:
        yield running


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _sign_in_in_browser(url: str, stop: str, screenshots: Path) -> str:
    require_tools(TOOLS.package("playwright-core"))
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run scripts/services.sh (apt-get install chromium)")
    argv = [str(TOOLS.node), str(BROWSER), url, "alice", "alice-pw", stop, str(screenshots)]
    env = node_env({"BROWSER_NODE_MODULES": str(TOOLS.npm_modules)})
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=_TIMEOUT, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def _run_with_browser(
    suite: subprocess.Popen[str], giru: BrokeredGiru, callback: str, screenshots: Path
) -> tuple[list[str], str]:
    """Wait for the authorization URL the suite prints, sign in at it in the browser, and let
    the suite finish; its output lines and stderr."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(suite.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        while not (output and output[-1].startswith(giru.url("/oauth/authorize?"))):
            output.append(lines.get(timeout=_TIMEOUT).strip())
        landed = _sign_in_in_browser(output[-1], callback, screenshots)
        assert landed.startswith(callback + "?code=")
        suite.wait(timeout=_TIMEOUT)
    finally:
        if suite.poll() is None:
            suite.kill()
            suite.wait()
    reader.join(timeout=10)
    while not lines.empty():
        output.append(lines.get_nowait().rstrip())
    stderr = suite.stderr.read() if suite.stderr is not None else ""
    return output, stderr


def test_authorization_server_scenarios_pass(giru: BrokeredGiru, tmp_path: Path) -> None:
    port = free_port()
    callback = f"http://{LOOPBACK}:{port}/callback"
    client_id = giru.register([callback], client_name="MCP conformance suite")["client_id"]
    argv = [
        str(TOOLS.node),
        str(conformance_entry(VERSION)),
        "authorization",
        "--url",
        giru.issuer,
        "--client-id",
        client_id,
        "--resource",
        giru.mcp,
        "--port",
        str(port),
    ]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=node_env()
    ) as suite:
        output, stderr = _run_with_browser(suite, giru, callback, tmp_path)
    result = parse_conformance(VERSION, argv, suite.returncode, "\n".join(output), stderr)
    names = {scenario.name for scenario in result.scenarios}
    assert {"authorization-server-metadata-endpoint", "authorization-code-grant"} <= names
    assert result.failed == 0, result.summary() + "\n" + "\n".join(output[-40:])
    assert result.exit_code == 0, result.summary()
