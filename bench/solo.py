"""One upstream and lone `giru run` processes in front of it, for the scenarios that compare
gateways started alike except for one setting (bench.identity, bench.tracing): the upstream on
the load core, each gateway on the gateway core, policy off (no OPA child: the gateway's CPU is
its own process), SQLite and the usage spool in the scenario's temp dir."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench.client import Caller
from bench.fleet import GATEWAY_CPUS, GIRU, LOAD_CPUS, REPO
from bench.pairs import Side, alternate, process_cpu_ns
from bench.procs import Proc, free_port, start, wait_http

__all__ = ["KEY", "client_manifest", "start_giru", "start_upstream"]

KEY: Final = "bench-key-0123456789abcdef"
"""The API key of the Client `bench` (apiKeyEnv GIRU_BENCH_KEY)."""


def client_manifest(upstream: str) -> str:
    """The server `s00` at `upstream` and the Client `bench` allowed every server."""
    return f"""apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: s00}}
spec:
  transport: streamable-http
  url: {upstream}
---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: bench}}
spec:
  apiKeyEnv: GIRU_BENCH_KEY
  servers: ["*"]
"""


def start_upstream(workdir: Path) -> tuple[Proc, str]:
    """bench/upstream.py (20 tools) on the load core; its `/mcp` URL."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--tools", "20"]
    upstream = start("upstream", argv, workdir, cpus=LOAD_CPUS, cwd=REPO)
    url = f"http://127.0.0.1:{port}/mcp"
    wait_http(upstream, url, ok=(405,))
    return upstream, url


def start_giru(
    workdir: Path,
    name: str,
    manifests: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] = (str(GIRU),),
    port: int | None = None,
) -> tuple[Proc, str]:
    """`giru run` over `manifests` on the gateway core, ready; its `/mcp` URL. `env` is added
    to the bench's defaults (policy off, SQLite and the spools under `workdir/name/data`); `command`
    is what runs `giru` (e.g. a profiling wrapper of it); `port`: where it listens (default:
    a free one)."""
    home = workdir / name
    home.mkdir()
    config = home / "giru.yaml"
    config.write_text(manifests)
    # The store and the spools in a directory of their own, as deployments keep them (compose:
    # /var/lib/giru beside /etc/giru/manifests): beside giru.yaml every write of SQLite's WAL
    # would wake the config watcher's inotify thread (about one wake-up per call).
    data = home / "data"
    data.mkdir()
    port = port or free_port()
    environ = {
        "GIRU_BENCH_KEY": KEY,
        "GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'giru.db'}",
        "GIRU_ADMIN_TOKEN": "bench-admin-token-0123456789",
        "GIRU_POLICY__ENABLED": "false",
        "GIRU_METERING__SPOOL_DIR": str(data / "spool"),
        **(env or {}),
    }
    argv = [*command, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    giru = start(name, argv, workdir, cpus=GATEWAY_CPUS, env=environ, cwd=REPO)
    try:
        wait_http(giru, f"http://127.0.0.1:{port}/readyz", timeout=120)
    except BaseException:  # never ready: not left running behind the bench
        giru.stop()
        raise
    return giru, f"http://127.0.0.1:{port}/mcp"


async def compare_processes(
    urls: dict[str, str],
    pids: dict[str, int],
    *,
    calls: int,
    rounds: int,
    concurrency: int,
    versus: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The same tools/call against one Giru process per side (`urls`, the first the baseline),
    each warmed up, then in paired rounds (`bench.pairs.alternate`) of each process's own CPU."""
    async with contextlib.AsyncExitStack() as stack:
        callers = {
            name: await stack.enter_async_context(Caller(url, KEY, concurrency))
            for name, url in urls.items()
        }
        for caller in callers.values():  # warm up
            await caller.calls(max(200, 20 * concurrency))
        sides = [
            Side(name, caller.calls, functools.partial(process_cpu_ns, pids[name]))
            for name, caller in callers.items()
        ]
        return await alternate(sides, calls=calls, rounds=rounds, versus=versus)
