"""`python -m bench.identity [--calls N] [--rounds R] [--out DIR]`: what an OAuth access token
costs a tools/call next to an API key, in Giru CPU µs per call (issue 13: at most 30 µs more).

One `giru run` (policy off, so there is no OPA child and the process is all of Giru's CPU) in
front of one fake upstream (bench/upstream.py) trusts an IdP in direct mode: an issuer served by
this process (its discovery document and its JWKS, an ES256 key) that signs one access token for
Giru's `/mcp`. The same gateway then answers the same 2026-07-28 tools/call (no session) with
`Authorization: Bearer <api key>` (a Client) and with `Authorization: Bearer <jwt>` (a person in
a group subscribed to the server, acting through the OAuth client `bench-agent`), in paired
rounds (bench.pairs: short blocks, shuffled order, median of the per-round differences with a
bootstrap interval) at concurrency 1 and 16. The token is verified once and then found by its
SHA-256 until its `exp` (giru.identity.tokens.TokenCache), as every call after a client's first.

CPU is the gateway process's CPU clock (every thread, ns) around each block ÷ calls. The same
comparison of the admission step alone runs in this process afterwards. Numbers are printed and
written to `<out>/<date>-identity.json` and `<out>/identity.md`, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import uvloop

from bench.client import Caller
from bench.fleet import GATEWAY_CPUS, LOAD_CPUS, REPO
from bench.issuer import Issuer
from bench.machine import describe as describe_machine
from bench.pairs import Side, alternate, describe, process_cpu_ns, tree_cpu_ns
from bench.procs import Proc
from bench.report import write_standalone
from bench.solo import KEY, client_manifest, start_giru, start_upstream
from giru.access.clients import ClientDirectory
from giru.identity import ProtectedResource
from giru.manifests import load
from giru.proxy.endpoints import GLOBAL
from giru.runtime import build_endpoints
from giru.settings import IdentitySettings

__all__ = ["SCENARIO", "main", "run"]

SCENARIO: Final = "identity"
Say = Callable[[str], object]


_SUBSCRIBED_KEY: Final = "bench-subscribed-key-0123456789"


def _manifests(upstream: str, issuer: str) -> str:
    """The Client `bench` (every server), the Client `bench-subscribed` granted s00 by a
    Subscription (a person's grants always come from one: the like-for-like baseline), the IdP
    in direct mode and the Subscription of the people in group `bench` to s00."""
    digest = hashlib.sha256(_SUBSCRIBED_KEY.encode()).hexdigest()
    return (
        client_manifest(upstream)
        + f"""---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: bench-subscribed}}
spec: {{apiKeyHash: "sha256:{digest}"}}
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: bench-subscribed-s00}}
spec:
  client: bench-subscribed
  server: s00
  scopeType: all
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
    )


async def _measure(
    giru: Proc,
    url: str,
    token: str,
    calls: int,
    rounds: int,
    concurrency: tuple[int, ...],
    say: Say,
) -> list[dict[str, Any]]:
    """The credentials on the same process in paired rounds (bench.pairs) per concurrency."""
    async with Caller(url, token, 1) as first:
        await first.calls(1)  # the token's one verification (and JWKS fetch), alone
    points = []
    for each in concurrency:
        async with (
            Caller(url, KEY, each) as key,
            Caller(url, _SUBSCRIBED_KEY, each) as subscribed,
            Caller(url, token, each) as oauth,
        ):
            for caller in (key, subscribed, oauth):  # warm up: connections
                await caller.calls(max(200, each * 20))
            clock = lambda: tree_cpu_ns(giru.pid)  # noqa: E731
            sides = [
                Side("api key", key.calls, clock),
                Side("api key again", key.calls, clock),  # A/A: what no difference reads as
                Side("subscribed key", subscribed.calls, clock),
                Side("oauth", oauth.calls, clock),
            ]
            versus = [("oauth", "subscribed key")]
            compared = await alternate(sides, calls=calls, rounds=rounds, versus=versus)
        say(f"  c={each}\n{describe(compared)}")
        points.append({"concurrency": each, "where": "giru run, tools/call", **compared})
    return points


async def _admission(
    config_path: Path, issuer: Issuer, calls: int, rounds: int, say: Say
) -> dict[str, Any]:
    """The work an admission does differently for the two credentials, in this process: an API
    key found by `ClientDirectory.authenticate`; an access token found by
    `ProtectedResource.authenticate` (cache by hash, audience and scope checks) and made a
    person's principal by `ClientDirectory.person` (their groups' grants merged)."""
    config = load(config_path, environ={"GIRU_BENCH_KEY": KEY})
    directory = ClientDirectory.from_config(config, environ={"GIRU_BENCH_KEY": KEY})
    base = "http://127.0.0.1:1"
    documents = issuer.documents

    async def fetch(url: str) -> Any:
        return documents[url.removeprefix(issuer.url)]

    resource = ProtectedResource.from_config(config, base, IdentitySettings(), fetch)
    paths = build_endpoints(config)[GLOBAL].resource_paths
    token = issuer.token(base + "/mcp")

    async def by_key() -> None:
        assert await directory.authenticate(KEY) is not None

    async def by_token() -> None:
        directory.person(await resource.authenticate(token, paths))

    async def many(variant: Callable[[], Awaitable[None]]) -> Callable[[int], Awaitable[None]]:
        async def block(n: int) -> None:
            for _ in range(n):
                await variant()

        return block

    await by_key()
    await by_token()
    clock = lambda: process_cpu_ns(os.getpid())  # noqa: E731
    sides = [Side("api key", await many(by_key), clock), Side("oauth", await many(by_token), clock)]
    compared = await alternate(sides, calls=calls, rounds=rounds)
    fresh = [issuer.token(base + "/mcp", subject=f"sub-{i}") for i in range(500)]
    started = time.process_time()
    for each in fresh:
        directory.person(await resource.authenticate(each, paths))
    first = (time.process_time() - started) / len(fresh) * 1e6
    say(f"  admission, in process\n{describe(compared)}")
    say(f"    a token's first use (signature verified) {first:.1f} µs")
    return {"where": "admission, in process", "first_use_cpu_us": round(first, 1), **compared}


def setup_text(calls: int, rounds: int, concurrency: tuple[int, ...]) -> dict[str, Any]:
    return {
        "gateway": "giru run, one process, policy off (GIRU_POLICY__ENABLED=false), SQLite, "
        "info logging; an IdentityProvider in direct mode (ES256 JWKS served by the bench)",
        "upstream": "bench/upstream.py, one process, 20 tools; calls go to s00__echo",
        "calls": f"paired rounds (bench.pairs): {rounds} rounds per concurrency, each one block of "
        f"{calls} calls per credential in a shuffled order, on the same process; concurrency "
        f"{', '.join(map(str, concurrency))}; 2026-07-28 stateless tools/call, aiohttp "
        "keep-alive connections kept across blocks",
        "credentials": "api key: a Client whose key comes from apiKeyEnv (found by its SHA-256, "
        "compared in constant time), allowed every server; api key again: the same, measured "
        "as a side of its own (an A/A pair: the spread of a difference that is not there); "
        "subscribed key: a Client granted s00 by a Subscription, as the person is (the "
        "like-for-like baseline; 'oauth - subscribed key' is paired too); oauth: one "
        "ES256 access token for /mcp naming a person in group `bench` (Subscription) and the "
        "OAuth client bench-agent, verified once then cached by SHA-256 until exp",
        "CPU": "the giru process's CPU clock (clock_gettime on its process CPU-time clock: every "
        "thread, ns) around each block ÷ calls; added = median over rounds of oauth minus api "
        "key in the same round, 95 % percentile-bootstrap interval of that median",
        "cores": "giru on the gateway core, the upstream and this client on the load core",
        "files": "giru's SQLite store and spools on tmpfs (/dev/shm): an fsync on disk costs "
        "what other processes' IO makes it cost, for both sides alike, adding only noise",
        "admission": "the same config compiled in this process (ClientDirectory, "
        "ProtectedResource): this process's CPU clock around blocks of what the admission runs "
        "differently per credential, paired rounds as above (10x the calls per block); 'first "
        "use' is a new token's signature verification (ES256) and claims, once per token until "
        "exp",
    }


def run(
    calls: int, rounds: int = 40, say: Say = print, concurrency: tuple[int, ...] = (16,)
) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}}`, a paired comparison (bench.pairs) per
    concurrency and one of the admission step in process (for `python -m bench` too)."""
    shm = Path("/dev/shm")  # the store and spools on tmpfs: fsync's cost follows others' disk IO
    home = shm if shm.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="giru-bench-identity-", dir=home) as directory:
        workdir = Path(directory)
        placed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, LOAD_CPUS)
        with Issuer().serving() as issuer:
            upstream, upstream_url = start_upstream(workdir)
            try:
                giru, url = start_giru(workdir, "giru", _manifests(upstream_url, issuer.url))
                try:
                    say("identity: giru run, tools/call with an API key and with an access token")
                    token = issuer.token(url)
                    points = uvloop.run(_measure(giru, url, token, calls, rounds, concurrency, say))
                finally:
                    giru.stop()
            finally:
                upstream.stop()
            os.sched_setaffinity(0, GATEWAY_CPUS)
            try:
                config = workdir / "giru" / "giru.yaml"
                admission = uvloop.run(_admission(config, issuer, calls * 10, rounds, say))
            finally:
                os.sched_setaffinity(0, placed)
    return {"points": [*points, admission], "setup": setup_text(calls, rounds, concurrency)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--rounds", type=int, default=40, help="paired rounds per concurrency")
    parser.add_argument("--concurrency", type=int, action="append", help="default: 16")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "identity")
    args = parser.parse_args(argv)
    machine = describe_machine(None)
    result = run(args.calls, args.rounds, concurrency=tuple(args.concurrency or (16,)))
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "identity")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
