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

With `--ref REV`, a second `giru run` of commit REV's package (`git archive REV src`, through
PYTHONPATH, with the work tree's `.venv`, as bench.regression) answers the API key and the token
too, in the same rounds: what the work tree changed is the median over rounds of
(oauth - api key) - (oauth @REV - api key @REV), with its bootstrap interval.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, NamedTuple

import uvloop

from bench.client import Caller
from bench.fleet import GATEWAY_CPUS, LOAD_CPUS, REPO
from bench.issuer import Issuer
from bench.machine import describe as describe_machine
from bench.pairs import Side, alternate, describe, median_ci, process_cpu_ns, tree_cpu_ns
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


class Gateway(NamedTuple):
    """A `giru run` measured: its process, its `/mcp` URL and the access token minted for it."""

    proc: Proc
    url: str
    token: str


async def _measure(
    giru: Gateway,
    ref: tuple[str, Gateway] | None,
    calls: int,
    rounds: int,
    concurrency: tuple[int, ...],
    say: Say,
) -> list[dict[str, Any]]:
    """The credentials on the same process in paired rounds (bench.pairs) per concurrency;
    with `ref` (a revision and its gateway), the API key and the token on it too."""
    for gateway in (giru, *([ref[1]] if ref else [])):
        async with Caller(gateway.url, gateway.token, 1) as first:
            await first.calls(1)  # the token's one verification (and JWKS fetch), alone
    points = []
    for each in concurrency:
        async with contextlib.AsyncExitStack() as stack:
            callers: dict[tuple[str, str], Caller] = {}
            sides = [
                await _side(stack, callers, name, giru, secret, each) for name, secret in _SIDES
            ]
            if ref is not None:
                revision, other = ref
                for name, secret in (("api key", KEY), ("oauth", None)):
                    named = f"{name} @{revision}"
                    sides.append(await _side(stack, callers, named, other, secret, each))
            versus = [("oauth", "subscribed key")]
            compared = await alternate(sides, calls=calls, rounds=rounds, versus=versus)
        if ref is not None:
            compared["differences"].update(_changed(compared, ref[0]))
        say(f"  c={each}\n{describe(compared)}")
        points.append({"concurrency": each, "where": "giru run, tools/call", **compared})
    return points


_SIDES: Final = (
    ("api key", KEY),
    ("api key again", KEY),  # A/A: what no difference reads as
    ("subscribed key", _SUBSCRIBED_KEY),
    ("oauth", None),  # the gateway's access token
)


async def _side(
    stack: contextlib.AsyncExitStack,
    callers: dict[tuple[str, str], Caller],
    name: str,
    giru: Gateway,
    secret: str | None,
    each: int,
) -> Side:
    """`name`'s calls on `giru` with `secret` (None: its access token), warmed up; the sides of
    one credential on one gateway share a caller (its connections)."""
    bearer = secret or giru.token
    caller = callers.get((giru.url, bearer))
    if caller is None:
        caller = await stack.enter_async_context(Caller(giru.url, bearer, each))
        await caller.calls(max(200, each * 20))  # warm up: connections
        callers[(giru.url, bearer)] = caller
    return Side(name, caller.calls, lambda: tree_cpu_ns(giru.proc.pid))


def _changed(compared: dict[str, Any], revision: str) -> dict[str, Any]:
    """Per round, oauth - api key here minus the same on `revision`: the median and its 95 %
    interval (what the work tree changed in the token's extra CPU)."""
    sides = compared["sides"]

    def extra(suffix: str) -> list[float]:
        oauth = sides[f"oauth{suffix}"]["cpu_us_per_call_rounds"]
        key = sides[f"api key{suffix}"]["cpu_us_per_call_rounds"]
        return [o - k for o, k in zip(oauth, key, strict=True)]

    here, there = extra(""), extra(f" @{revision}")
    changes = [h - t for h, t in zip(here, there, strict=True)]
    low, high = median_ci(changes)
    name = f"(oauth - api key) - (oauth - api key) @{revision}"
    extra_there = {
        "added_cpu_us_per_call": round(statistics.median(there), 2),
        "added_ci95": [round(v, 2) for v in median_ci(there)],
        "added_mean": round(statistics.fmean(there), 2),
    }
    return {
        f"oauth @{revision} - api key @{revision}": extra_there,
        name: {
            "added_cpu_us_per_call": round(statistics.median(changes), 2),
            "added_ci95": [round(low, 2), round(high, 2)],
            "added_mean": round(statistics.fmean(changes), 2),
        },
    }


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


def _source_of(revision: str, workdir: Path) -> Path:
    """`src` of `revision` unpacked under `workdir` (for PYTHONPATH)."""
    argv = ["git", "archive", "--format=tar", revision, "src"]
    archive = subprocess.run(argv, cwd=REPO, check=True, capture_output=True).stdout
    (workdir / "ref.tar").write_bytes(archive)
    with tarfile.open(workdir / "ref.tar") as tar:
        tar.extractall(workdir / "ref", filter="data")
    return workdir / "ref" / "src"


def run(
    calls: int,
    rounds: int = 40,
    say: Say = print,
    concurrency: tuple[int, ...] = (16,),
    ref: str | None = None,
) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}}`, a paired comparison (bench.pairs) per
    concurrency and one of the admission step in process (for `python -m bench` too); `ref`: a
    revision whose gateway is measured beside the work tree's."""
    shm = Path("/dev/shm")  # the store and spools on tmpfs: fsync's cost follows others' disk IO
    home = shm if shm.is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="giru-bench-identity-", dir=home) as directory,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(directory)
        placed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, LOAD_CPUS)
        with Issuer().serving() as issuer:
            upstream, upstream_url = start_upstream(workdir)
            stack.callback(upstream.stop)
            manifests = _manifests(upstream_url, issuer.url)
            giru, url = start_giru(workdir, "giru", manifests)
            stack.callback(giru.stop)
            other = None
            if ref is not None:
                env = {"PYTHONPATH": str(_source_of(ref, workdir))}
                proc, ref_url = start_giru(workdir, "giru-ref", manifests, env)
                stack.callback(proc.stop)
                other = (ref, Gateway(proc, ref_url, issuer.token(ref_url)))
            say("identity: giru run, tools/call with an API key and with an access token")
            here = Gateway(giru, url, issuer.token(url))
            points = uvloop.run(_measure(here, other, calls, rounds, concurrency, say))
            stack.close()
            os.sched_setaffinity(0, GATEWAY_CPUS)
            try:
                config = workdir / "giru" / "giru.yaml"
                admission = uvloop.run(_admission(config, issuer, calls * 10, rounds, say))
            finally:
                os.sched_setaffinity(0, placed)
    setup = setup_text(calls, rounds, concurrency)
    if ref is not None:
        setup["ref"] = (
            f"a second giru run of {ref}'s src (git archive, PYTHONPATH, this .venv), same "
            f"manifests and core, its 'api key @{ref}' and 'oauth @{ref}' sides in the same "
            f"rounds; '(oauth - api key) - (oauth - api key) @{ref}' is per round the work "
            f"tree's token extra minus {ref}'s"
        )
    return {"points": [*points, admission], "setup": setup}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--rounds", type=int, default=40, help="paired rounds per concurrency")
    parser.add_argument("--concurrency", type=int, action="append", help="default: 16")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "identity")
    parser.add_argument("--ref", help="a revision measured beside the work tree (e.g. main)")
    args = parser.parse_args(argv)
    machine = describe_machine(None)
    concurrency = tuple(args.concurrency or (16,))
    result = run(args.calls, args.rounds, concurrency=concurrency, ref=args.ref)
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "identity")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
