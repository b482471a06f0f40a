"""`python -m bench.identity [--calls N] [--out DIR]`: what an OAuth access token costs a
tools/call next to an API key, in Giru CPU µs per call (issue 13: at most 30 µs more).

One `giru run` (policy off, so OPA's CPU is not in the figure) in front of one fake upstream
(bench/upstream.py) trusts an IdP in direct mode: an issuer served by this process (its
discovery document and its JWKS, an ES256 key) that signs one access token for Giru's `/mcp`.
The same gateway then answers the same 2026-07-28 tools/call (no session) with
`Authorization: Bearer <api key>` (a Client) and with `Authorization: Bearer <jwt>` (a person in
a group subscribed to the server, acting through the OAuth client `bench-agent`), in alternating
rounds at concurrency 1 and 16. The token is verified once and then found by its SHA-256 until
its `exp` (giru.identity.tokens.TokenCache), as every call after a client's first.

CPU is Δ(utime+stime) of the gateway process tree from /proc ÷ calls: the machine may be shared,
and CPU time per call is what another process's load changes least (wall time is reported but
not the figure). The median round of each credential is kept. Numbers are printed and written
to `<out>/<date>-identity.json` and `<out>/identity.md`, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import uvloop

from bench.fleet import GATEWAY_CPUS, GIRU, LOAD_CPUS, REPO
from bench.issuer import Issuer
from bench.machine import describe
from bench.procs import Proc, cpu_seconds, free_port, start, wait_http
from bench.report import write_standalone
from giru.access.clients import ClientDirectory
from giru.identity import ProtectedResource
from giru.manifests import load
from giru.proxy.endpoints import GLOBAL
from giru.runtime import build_endpoints
from giru.settings import IdentitySettings

__all__ = ["SCENARIO", "main", "run"]

SCENARIO: Final = "identity"
Say = Callable[[str], object]
_KEY: Final = "bench-key-0123456789abcdef"
_ROUNDS: Final = 3
_CONCURRENCY: Final = (1, 16)
_VERSION: Final = "2026-07-28"
_META: Final = {
    "io.modelcontextprotocol/protocolVersion": _VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _manifests(upstream: str, issuer: str) -> str:
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
---
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: corp}}
spec:
  issuer: {issuer}
  mode: direct
  requiredScopes: [mcp]
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: bench-people}}
spec:
  subject: {{group: bench}}
  server: s00
  scopeType: all
"""


def _start(workdir: Path, issuer: str) -> tuple[Proc, Proc, str]:
    """The upstream (load core) and `giru run` (gateway core); Giru's `/mcp` URL."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--tools", "20"]
    upstream = start("upstream", argv, workdir, cpus=LOAD_CPUS, cwd=REPO)
    wait_http(upstream, f"http://127.0.0.1:{port}/mcp", ok=(405,))
    config = workdir / "giru.yaml"
    config.write_text(_manifests(f"http://127.0.0.1:{port}/mcp", issuer))
    giru_port = free_port()
    env = {
        "GIRU_BENCH_KEY": _KEY,
        "GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'giru.db'}",
        "GIRU_ADMIN_TOKEN": "bench-admin-token-0123456789",
        "GIRU_POLICY__ENABLED": "false",
        "GIRU_METERING__SPOOL_DIR": str(workdir / "spool"),
    }
    argv = [str(GIRU), "run", "--config", str(config), "--listen", f"127.0.0.1:{giru_port}"]
    giru = start("giru", argv, workdir, cpus=GATEWAY_CPUS, env=env, cwd=REPO)
    wait_http(giru, f"http://127.0.0.1:{giru_port}/readyz", timeout=120)
    return upstream, giru, f"http://127.0.0.1:{giru_port}/mcp"


def _headers(credential: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": _VERSION,
        "mcp-method": "tools/call",
        "mcp-name": "s00__echo",
        "authorization": f"Bearer {credential}",
    }


_BODY: Final = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "s00__echo", "arguments": {"text": "bench"}, "_meta": _META},
    }
)


async def _calls(url: str, credential: str, calls: int, concurrency: int) -> float:
    """`calls` tools/calls at `concurrency`; the wall seconds they took."""
    headers = _headers(credential)
    share = calls // concurrency
    async with aiohttp.ClientSession() as http:

        async def loop() -> None:
            for _ in range(share):
                async with http.post(url, data=_BODY, headers=headers) as reply:
                    body = await reply.read()
                    if reply.status != 200 or b'"isError":true' in body or b"error" in body:
                        raise RuntimeError(f"tools/call answered {reply.status}: {body[:300]!r}")

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(loop())
        return time.perf_counter() - started


async def _measure(giru: Proc, url: str, token: str, calls: int, say: Say) -> list[dict[str, Any]]:
    credentials = {"api key": _KEY, "oauth": token}
    for credential in credentials.values():  # warm up: connections, the token's one verification
        await _calls(url, credential, 200, 1)
    points = []
    for concurrency in _CONCURRENCY:
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in credentials}
        for _ in range(_ROUNDS):
            for name, credential in credentials.items():
                before = cpu_seconds(giru.pid)
                wall = await _calls(url, credential, calls, concurrency)
                cpu = (cpu_seconds(giru.pid) - before) / calls * 1e6
                rounds[name].append((cpu, wall / calls * 1e6))
        for name, measured in rounds.items():
            cpu = statistics.median(c for c, _ in measured)
            point = {
                "credential": name,
                "concurrency": concurrency,
                "calls": calls,
                "cpu_us_per_call": round(cpu, 1),
                "cpu_us_per_call_rounds": [round(c, 1) for c, _ in measured],
                "wall_us_per_call": round(statistics.median(w for _, w in measured), 1),
            }
            points.append(point)
        here = {p["credential"]: p for p in points if p["concurrency"] == concurrency}
        key, oauth = here["api key"], here["oauth"]
        oauth["added_cpu_us_per_call"] = round(oauth["cpu_us_per_call"] - key["cpu_us_per_call"], 1)
        say(
            f"  c={concurrency:<3} api key {key['cpu_us_per_call']:7.1f} µs  oauth "
            f"{oauth['cpu_us_per_call']:7.1f} µs  added {oauth['added_cpu_us_per_call']:+.1f} µs"
        )
    return points


async def _admission(
    config_path: Path, issuer: Issuer, calls: int, say: Say
) -> list[dict[str, Any]]:
    """The work an admission does differently for the two credentials, in this process: an API
    key found by `ClientDirectory.authenticate`; an access token found by
    `ProtectedResource.authenticate` (cache by hash, audience and scope checks) and made a
    person's principal by `ClientDirectory.person` (their groups' grants merged)."""
    config = load(config_path, environ={"GIRU_BENCH_KEY": _KEY})
    directory = ClientDirectory.from_config(config, environ={"GIRU_BENCH_KEY": _KEY})
    base = "http://127.0.0.1:1"
    documents = issuer.documents

    async def fetch(url: str) -> Any:
        return documents[url.removeprefix(issuer.url)]

    resource = ProtectedResource.from_config(config, base, IdentitySettings(), fetch)
    paths = build_endpoints(config)[GLOBAL].resource_paths
    token = issuer.token(base + "/mcp")

    async def by_key() -> None:
        assert await directory.authenticate(_KEY) is not None

    async def by_token() -> None:
        directory.person(await resource.authenticate(token, paths))

    variants = {"api key": by_key, "oauth": by_token}
    for variant in variants.values():
        await variant()
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(_ROUNDS * 3):
        for name, variant in variants.items():
            started = time.process_time()
            for _ in range(calls):
                await variant()
            rounds[name].append((time.process_time() - started) / calls * 1e6)
    fresh = [issuer.token(base + "/mcp", subject=f"sub-{i}") for i in range(min(calls, 500))]
    started = time.process_time()
    for each in fresh:
        directory.person(await resource.authenticate(each, paths))
    first = (time.process_time() - started) / len(fresh) * 1e6
    points = [
        {
            "credential": name,
            "where": "admission, in process",
            "calls": calls,
            "cpu_us_per_call": round(statistics.median(measured), 2),
            "cpu_us_per_call_rounds": [round(m, 2) for m in measured],
        }
        for name, measured in rounds.items()
    ]
    points[1]["added_cpu_us_per_call"] = round(
        points[1]["cpu_us_per_call"] - points[0]["cpu_us_per_call"], 2
    )
    points[1]["first_use_cpu_us"] = round(first, 1)
    say(
        f"  admission: api key {points[0]['cpu_us_per_call']:.2f} µs, oauth (cached) "
        f"{points[1]['cpu_us_per_call']:.2f} µs, added {points[1]['added_cpu_us_per_call']:+.2f}"
        f" µs; a token's first use (signature verified) {first:.1f} µs"
    )
    return points


def setup_text(calls: int) -> dict[str, Any]:
    return {
        "gateway": "giru run, one process, policy off (GIRU_POLICY__ENABLED=false), SQLite, "
        "info logging; an IdentityProvider in direct mode (ES256 JWKS served by the bench)",
        "upstream": "bench/upstream.py, one process, 20 tools; calls go to s00__echo",
        "calls": f"{calls} per round, {_ROUNDS} rounds per credential alternating, median kept; "
        f"concurrency {', '.join(map(str, _CONCURRENCY))}; 2026-07-28 stateless tools/call, "
        "aiohttp keep-alive",
        "credentials": "api key: a Client whose key comes from apiKeyEnv (found by its SHA-256, "
        "compared in constant time); oauth: one "
        "ES256 access token for /mcp naming a person in group `bench` (Subscription) and the "
        "OAuth client bench-agent, verified once then cached by SHA-256 until exp",
        "CPU": "Δ(utime+stime) of the giru process tree from /proc ÷ calls (wall time printed, "
        "not the figure: the machine may be shared)",
        "cores": "giru on the gateway core, the upstream and this client on the load core",
        "admission": "the same config compiled in this process (ClientDirectory, "
        "ProtectedResource): CPU (time.process_time) of what the admission runs differently "
        "per credential, 4x the calls, 9 alternating rounds, median; 'first use' is a new "
        "token's signature verification (ES256) and claims, once per token until exp",
    }


def run(calls: int, say: Say = print) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}}` (for `python -m bench` too)."""
    with tempfile.TemporaryDirectory(prefix="giru-bench-identity-") as directory:
        workdir = Path(directory)
        placed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, LOAD_CPUS)
        with Issuer().serving() as issuer:
            upstream, giru, url = _start(workdir, issuer.url)
            try:
                say("identity: giru run, tools/call with an API key and with an access token")
                points = uvloop.run(_measure(giru, url, issuer.token(url), calls, say))
            finally:
                giru.stop()
                upstream.stop()
            os.sched_setaffinity(0, GATEWAY_CPUS)
            try:
                config = workdir / "giru.yaml"
                points += uvloop.run(_admission(config, issuer, calls * 4, say))
            finally:
                os.sched_setaffinity(0, placed)
    return {"points": points, "setup": setup_text(calls)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--calls", type=int, default=1500, help="calls per round")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "identity")
    args = parser.parse_args(argv)
    machine = describe(None)
    result = run(args.calls)
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "identity")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
