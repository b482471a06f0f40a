"""`conformance client --command` harness: Giru in front of the suite's mock server.

    .venv/bin/python tests/conformance/harness/giru_harness.py [--client PATH] <mock-server-url>

The suite appends its mock server's URL as the last argument and sets MCP_CONFORMANCE_SCENARIO /
MCP_CONFORMANCE_PROTOCOL_VERSION / MCP_CONFORMANCE_CONTEXT. The harness declares that URL as a
`streamable-http` MCPServer behind an unprefixed `auth: none` VirtualServer, starts `giru run` on
a free loopback port, then runs the reference client (the Go SDK's conformance everything-client,
which implements each scenario) against Giru's virtual-server URL with the same environment. The
mock server therefore records *Giru's* behaviour as an MCP client. The exit code is the client's.

With GIRU_HARNESS_REPORT_DIR set, it also writes `<dir>/<scenario>@<version>.json`: the client's
exit code, Giru's log tail and, for `tools_call`, the content Giru returns for `add_numbers`
(called once more with the Python SDK after the reference client succeeded, in the same era).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # run as a script by the suite
    sys.path.insert(0, str(REPO))

from tests.integration.gateway import RunningGiru, http_server, run_giru  # noqa: E402

DEFAULT_CLIENT = REPO / ".tools" / "bin" / "everything-client"
VIRTUAL_SERVER = "conformance"
CLIENT_TIMEOUT = 25.0  # the suite kills the harness after 30 s (its default --timeout)


def manifests(upstream_url: str) -> str:
    """The mock as the only upstream of an unprefixed, unauthenticated virtual server."""
    virtual = f"""
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: {VIRTUAL_SERVER}}}
spec:
  servers: [mock]
  prefix: false
  auth: none
"""
    # The operator's pin: the mock speaks exactly the era the suite tests (its answers to the
    # other era's probe are not conclusive), so Giru sends no probe of the other era first.
    era = (
        "modern" if os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") == "2026-07-28" else "legacy"
    )
    return "---".join([http_server("mock", "streamable-http", upstream_url, era), virtual])


def run_client(client: Path, url: str) -> subprocess.CompletedProcess[str]:
    """The reference client against `url`, inheriting the suite's MCP_CONFORMANCE_* env."""
    try:
        return subprocess.run(
            [str(client), url],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return subprocess.CompletedProcess(exc.cmd, 124, out, err + "\n[harness] client timed out")


async def call_add_numbers(url: str, version: str) -> list[dict[str, Any]]:
    """Calls add_numbers(5, 3) through Giru with the Python SDK; returns the content blocks."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    mode = "legacy" if version < "2026" else version
    async with Client(streamable_http_client(url), mode=mode) as client:
        result = await client.call_tool("add_numbers", {"a": 5, "b": 3})
    return [block.model_dump(mode="json", exclude_none=True) for block in result.content]


def verify(scenario: str, version: str, url: str) -> dict[str, Any]:
    if scenario != "tools_call":
        return {}
    try:
        return {"content": asyncio.run(call_add_numbers(url, version))}
    except Exception as exc:  # reported: the test asserts on the content
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", type=Path, default=DEFAULT_CLIENT)
    parser.add_argument("upstream", help="the suite's mock server URL (appended by the suite)")
    args = parser.parse_args(argv)
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    report_dir = os.environ.get("GIRU_HARNESS_REPORT_DIR")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="giru-harness-") as tmp:
        workdir = Path(tmp)
        running: RunningGiru
        with run_giru(manifests(args.upstream), workdir, ready_timeout=60.0) as running:
            url = running.url(f"/mcp/{VIRTUAL_SERVER}")
            done = run_client(args.client, url)
            # Only after the reference client succeeded: its tools/call came first, so the
            # mock's checks (which look at the first call) judge the reference client's call.
            extra = verify(scenario, version, url) if report_dir and done.returncode == 0 else {}
        log = running.log.read_text(errors="replace")
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if report_dir:
        report = {
            "scenario": scenario,
            "version": version,
            "upstream": args.upstream,
            "client_exit": done.returncode,
            "client_stderr": done.stderr[-4000:],
            "giru_log": log[-6000:],
            "seconds": round(time.monotonic() - started, 2),
            **extra,
        }
        name = f"{scenario.replace('/', '_')}@{version}.json"
        (Path(report_dir) / name).write_text(json.dumps(report, indent=2))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
