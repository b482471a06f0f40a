"""Closed-loop load with wrk (C, one thread, keep-alive) driving bench/mcp.lua."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

import orjson

from bench.client import PROTOCOL, Endpoint

__all__ = ["run_wrk"]

_SCRIPT = Path(__file__).with_name("mcp.lua")
_RUNS = itertools.count(1)  # request ids stay unique per session across wrk runs


def run_wrk(
    endpoint: Endpoint,
    *,
    connections: int,
    seconds: float,
    method: str,
    session_id: str | None,
    cpus: set[int],
    pace_ms: int = 0,
) -> dict[str, Any]:
    """Run wrk against `endpoint`; returns its counters and latency percentiles (µs)."""
    tool = endpoint.echo_tool if method == "tools/call" else "-"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(seconds, 1):.0f}s", "--timeout", "30s"]
    argv += ["-s", str(_SCRIPT), endpoint.url, "--"]
    argv += [session_id or "-", endpoint.token or "-", method, tool, PROTOCOL]
    argv += [f"r{os.getpid()}x{next(_RUNS)}", str(pace_ms), str(connections)]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({out.returncode}): {out.stderr[-500:]} {out.stdout[-500:]}"
        )
    result: dict[str, Any] = orjson.loads(lines[-1])
    seconds_run = result["duration_us"] / 1e6
    result["rps"] = round(result["requests"] / seconds_run, 1) if seconds_run else 0.0
    result["errors"] = sum(
        result[k] for k in ("bad", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    if result["bad"]:
        marker = "first bad answer: "
        found = [line for line in out.stderr.splitlines() if line.startswith(marker)]
        result["first_bad"] = found[-1][len(marker) :] if found else ""
    return result
