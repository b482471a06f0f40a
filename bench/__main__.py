"""`python -m bench [--quick] [--no-contextforge] [--profile] [--out DIR]`: run the governed
scenario of issue 15 (`bench.governed`, the headline: its targets table comes first in
latest.md), the scenarios of issue 2 against the direct upstream, Giru and ContextForge in one
run, and the OPA decision micro-bench of issue 4 (`bench.policy`); write
`<out>/<date>-<scenario>.json` per scenario and `<out>/latest.md`."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import governance, governed, identity, policy, search, trust
from bench.client import initialize
from bench.fleet import CF_PYTHON, LOAD_CPUS, REPO, Fleet, FleetSpec, running_fleet
from bench.machine import describe
from bench.profile import PY_SPY, profile_target
from bench.report import markdown, write_json
from bench.scenarios import Durations, alone, idle_sessions, tools_call, tools_call_rate, tools_list

FULL = Durations(
    warmup_s=2,
    run_s=10,
    rate_s=15,
    rate_rps=1000,
    concurrency=(1, 16, 64),
    list_concurrency=(1, 16),
    sessions=1000,
    decisions=5000,
    governed_calls=20_000,
    identity_calls=200,
    oauth_rounds=5,
    oauth_round_s=4,
)
QUICK = Durations(
    warmup_s=1,
    run_s=2,
    rate_s=3,
    rate_rps=1000,
    concurrency=(1, 16, 64),
    list_concurrency=(16,),
    sessions=200,
    decisions=1000,
    governed_calls=3000,
    identity_calls=50,
    oauth_rounds=2,
    oauth_round_s=1,
)
SCENARIOS = (
    governed.SCENARIO,
    "tools-call",
    "tools-call-rate",
    "tools-list",
    "idle-sessions",
    policy.SCENARIO,
    governance.SCENARIO,
    identity.SCENARIO,
    search.SCENARIO,
    trust.SCENARIO,
)
FLEET_SCENARIOS = frozenset(SCENARIOS) - {
    policy.SCENARIO,
    governance.SCENARIO,
    identity.SCENARIO,
    search.SCENARIO,
    trust.SCENARIO,
}


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def _setup(contextforge: bool) -> list[str]:
    """Run the idempotent installers; a ContextForge failure is a note, not the end."""
    notes: list[str] = []
    subprocess.run(["bash", str(REPO / "bench" / "setup_tools.sh")], check=True)
    if contextforge:
        done = subprocess.run(["bash", str(REPO / "bench" / "setup_contextforge.sh")], check=False)
        if done.returncode != 0:
            notes.append("ContextForge could not be installed (see .tools/contextforge/)")
    return notes


_EDGE_TEXT = {
    "envoy": "Envoy (`--concurrency 1 --disable-hot-restart --log-level warn`, pinned to giru's "
    "core 1, JSON access log to a file) in front of giru, configured over xDS by giru itself "
    "(GIRU_XDS__*; giru is worker w1, its legacy sessions routed back to it); `giru` is that very "
    "process reached directly. giru-envoy: Envoy asks giru's ext_authz (gRPC, same process) per "
    "request, then forwards; giru-envoy-noauthz: a second Envoy in front of the same giru without "
    "ext_authz, configured by a standby giru control plane (stopped while anything is measured). "
    "Same API key (Authorization header) as giru direct. tools/call scenarios only",
    "added by Envoy": "through Envoy minus giru direct (the same giru process), same concurrency, "
    "same run; added CPU = giru's process tree + Envoy's, minus giru direct's",
    "Envoy CPU µs/call": "Δ(utime+stime) of the Envoy process from /proc/<pid>/stat ÷ calls, "
    "counted apart from giru's",
}


_OAUTH_TEXT = {
    "oauth": "giru also trusts an IdP in direct mode (bench/issuer.py: discovery and an ES256 "
    "JWKS served by the bench process) and subscribes its group `bench` to s00; giru-oauth is "
    "the giru process again, its calls carrying one ES256 access token for giru's /mcp (a "
    "person in group `bench`, OAuth client bench-agent) instead of the API key: verified once, "
    "then found by its SHA-256 until exp. giru-oauth minus giru is what the token costs",
}


def _setup_text(d: Durations, spec: FleetSpec, quick: bool) -> dict[str, Any]:
    return {
        "mode": "quick smoke" if quick else "full",
        "upstream": (
            f"{spec.processes} fake MCP servers (bench/upstream.py: asyncio+uvloop+httptools+"
            f"orjson, stateless JSON), {spec.servers} upstream entries x "
            f"{spec.tools_per_server} tools; calls go to entry s00 (`echo`)"
        ),
        "cores": "gateway alone on core 1 (with the Envoy in front of it, for the Envoy "
        "targets); upstreams + load generators on core 0",
        "closed loop": (
            f"wrk 1 thread, keep-alive, c = {', '.join(map(str, d.concurrency))}; "
            f"{d.warmup_s:g}s warm-up + {d.run_s:g}s per point; one initialized session per run"
        ),
        "open loop": (
            f"asyncio+aiohttp client, {d.rate_rps:g} req/s for {d.rate_s:g}s, latency from the "
            "scheduled send time (no coordinated omission)"
        ),
        "protocol": "legacy Streamable HTTP 2025-06-18 with Mcp-Session-Id (both gateways)",
        "giru": "`giru run` defaults (one process, uvicorn+uvloop+httptools, API-key auth, "
        "info logging), GIRU_HTTP__PAGE_SIZE=1000 so tools/list answers all tools in one page",
        "contextforge": "1 uvicorn worker, SQLite, CACHE_TYPE=memory, JWT bearer (admin), "
        "USE_STATEFUL_SESSIONS=true, plugins/UI/admin API/observability off",
        "added latency": "gateway minus direct (the upstream), same concurrency, same run; in "
        "the Envoy tables, through Envoy minus giru direct",
        "CPU µs/call": "Δ(utime+stime) of the gateway process tree from /proc/<pid>/stat ÷ calls "
        "(giru's managed OPA child included; its share is reported as `of which OPA`)",
        "policy": "giru decides every tools/call with its managed OPA child (shipped packs, no "
        "kind: Policy: core only); giru-nopolicy is the same gateway with "
        "GIRU_POLICY__ENABLED=false (tools/call scenarios only), so giru minus giru-nopolicy is "
        "the cost of the decision",
        "policy decision": f"bench.policy: {d.decisions} decisions per point, real OPA on a unix "
        "socket and on TCP (details in its JSON `setup`)",
        "governed": "giru-limits: the giru process (policy on, managed OPA child, shipped packs, "
        "no kind: Policy: core only), an API key whose client has a Subscription with rate "
        "limits and quotas far above the load, durable usage and audit records per call; "
        f"closed loop at c={governed.CONCURRENCY} beside direct, giru-nopolicy, giru, the Envoy "
        "targets and ContextForge when they run, then open loop beside direct; in every Giru "
        "process the periodic whole-chain audit check is off (GIRU_AUDIT__VERIFY_INTERVAL_S=0: "
        "its first pass, 60 s after start, landed in whichever point was measured then)",
    } | _extra_text(spec)


def _extra_text(spec: FleetSpec) -> dict[str, str]:
    return (_EDGE_TEXT if spec.edge else {}) | (_OAUTH_TEXT if spec.oauth else {})


def _profile(fleet: Fleet, seconds: int, outdir: Path, date: str) -> dict[str, Any]:
    if not PY_SPY.exists():
        return {"error": "py-spy not installed (bench/setup_tools.sh)"}
    target = fleet.targets["giru"]

    async def session() -> str | None:
        async with aiohttp.ClientSession() as http:
            return await initialize(http, target.endpoint)

    with alone(fleet, target):
        return profile_target(target, asyncio.run(session()), seconds, outdir, date)


def _snapshot(ref: str, into: Path) -> Path:
    """`git archive <ref> src/` into `into`: benchmark a commit while the work tree changes."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _scenarios(
    args: argparse.Namespace, d: Durations, fleet: Fleet, outdir: Path, date: str
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    wanted = set(args.scenario or SCENARIOS)
    spec = fleet.spec
    if "idle-sessions" in wanted:  # first: on fresh processes, before load leaves free heap
        say(f"scenario 3: RSS per idle session ({d.sessions} sessions)")
        results["idle-sessions"] = idle_sessions(fleet, d.sessions, say)
    if governed.SCENARIO in wanted:  # the headline: the first of the load scenarios
        say(f"governed: a governed tools/call (c={governed.CONCURRENCY}), issue 15's targets")
        results[governed.SCENARIO] = governed.run(fleet, d, say)
    max_rps: dict[str, float] = {}
    if "tools-call" in wanted or "tools-call-rate" in wanted:
        say("scenario 1: tools/call direct vs gateways (closed loop)")
        results["tools-call"] = tools_call(fleet, d, say)
        for point in results["tools-call"]["points"]:
            max_rps[point["target"]] = max(max_rps.get(point["target"], 0.0), point["rps"])
    if "tools-call-rate" in wanted:
        say(f"scenario 1b: tools/call at {d.rate_rps:g} req/s (open loop)")
        results["tools-call-rate"] = tools_call_rate(fleet, d, say, max_rps)
    if "tools-list" in wanted:
        say(f"scenario 2: tools/list over {spec.servers} x {spec.tools_per_server} tools")
        results["tools-list"] = tools_list(fleet, d, say)
    if args.profile:
        say(f"profile: py-spy on giru for {args.profile}s under c=16 tools/call")
        profile = _profile(fleet, args.profile, outdir, date)
        results["profile-giru"] = {"points": [], "profile": profile}
    return results


def _read_targets(results: dict[str, dict[str, Any]], mode: str) -> None:
    """Issue 15's targets onto the governed result, read off every scenario of the run (the
    policy-decision scenario's points too)."""
    if governed.SCENARIO in results:
        results[governed.SCENARIO]["targets"] = governed.targets(results)
        results[governed.SCENARIO]["mode"] = mode


def _run(args: argparse.Namespace, d: Durations, outdir: Path, notes: list[str]) -> None:
    date = datetime.date.today().isoformat()
    machine = describe(None if args.no_contextforge else CF_PYTHON, args.giru_ref)
    if args.giru_src is not None and not args.giru_ref:
        machine["giru"] += f", package from {args.giru_src}"
    say(f"machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['ram_gib']} GiB")
    say(f"giru: {machine['giru']}")
    wanted = set(args.scenario or SCENARIOS)
    results: dict[str, dict[str, Any]] = {}
    setups: dict[str, dict[str, Any]] = {}
    if policy.SCENARIO in wanted:  # no fleet needed: its own OPA processes, before the fleet
        say("scenario 4: OPA policy decision latency (bench.policy)")
        if args.giru_ref or args.giru_src:
            notes.append("policy-decision measures the work tree's giru.policy, not --giru-*")
        decision = policy.run(d.decisions, say)
        setups[policy.SCENARIO] = decision.pop("setup", {})
        results[policy.SCENARIO] = decision
    if governance.SCENARIO in wanted:  # in process, with its own Redis and PostgreSQL
        say("scenario 5: what limits, quotas and usage metering add per call (bench.governance)")
        if args.giru_ref or args.giru_src:
            notes.append("governance measures the work tree's giru, not --giru-*")
        gated = governance.run(d.governed_calls, say)
        setups[governance.SCENARIO] = gated.pop("setup", {})
        results[governance.SCENARIO] = gated
    if identity.SCENARIO in wanted:  # its own giru run and upstream, before the fleet
        say("scenario 5b: an OAuth access token next to an API key per call (bench.identity)")
        if args.giru_ref or args.giru_src:
            notes.append("identity measures the work tree's giru, not --giru-*")
        signed_in = identity.run(d.identity_calls, 10 if args.quick else 40, say)
        setups[identity.SCENARIO] = signed_in.pop("setup", {})
        results[identity.SCENARIO] = signed_in
    if search.SCENARIO in wanted:  # in process, no network; its own files in <out>/search/
        say("scenario 6: tool search for large catalogs (bench.search)")
        search.main(["--out", str(outdir / "search"), *(["--repeat", "3"] if args.quick else [])])
    if trust.SCENARIO in wanted:  # in process, no network; its own files in <out>/trust/
        say(
            "scenario 7: tool poisoning checks, corpus precision/recall and scan time (bench.trust)"
        )
        trust.main(["--out", str(outdir / "trust"), *(["--repeat", "3"] if args.quick else [])])
    with tempfile.TemporaryDirectory(prefix="giru-bench-") as tmp:
        giru_src = _snapshot(args.giru_ref, Path(tmp)) if args.giru_ref else args.giru_src
        edge = bool(wanted & {governed.SCENARIO, "tools-call", "tools-call-rate"})  # tools/call
        spec = FleetSpec(contextforge=not args.no_contextforge, giru_src=giru_src, edge=edge)
        setup = _setup_text(d, spec, args.quick)
        if wanted & FLEET_SCENARIOS or args.profile:
            with running_fleet(spec, Path(tmp), say) as fleet:
                notes += [f"{name}: {note}" for name, note in fleet.notes.items()]
                results.update(_scenarios(args, d, fleet, outdir, date))
    _read_targets(results, setup["mode"])
    for scenario, result in results.items():
        document = {
            "scenario": scenario,
            "date": date,
            "machine": machine,
            "setup": setups.get(scenario, setup),
            **result,
            "notes": notes,
        }
        path = write_json(outdir, date, scenario, document)
        say(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    latest = outdir / "latest.md"
    extra_setup = {f"decision {k}": v for k, v in setups.get(policy.SCENARIO, {}).items()}
    extra_setup |= {f"governance {k}": v for k, v in setups.get(governance.SCENARIO, {}).items()}
    extra_setup |= {f"identity {k}": v for k, v in setups.get(identity.SCENARIO, {}).items()}
    latest.write_text(markdown(date, machine, {**setup, **extra_setup}, results, notes))
    say(f"wrote {latest.relative_to(REPO) if latest.is_relative_to(REPO) else latest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument("--no-contextforge", action="store_true", help="Giru vs direct only")
    parser.add_argument("--no-setup", action="store_true", help="skip the installers")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="py-spy the gateway"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--giru-ref", default=None, help="benchmark this git ref's src/ instead of the work tree"
    )
    parser.add_argument(
        "--giru-src", type=Path, default=None, help="benchmark the giru package under this src/"
    )
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)  # the asyncio client shares core 0 with wrk/upstreams
    notes = [] if args.no_setup else _setup(not args.no_contextforge)
    if args.no_contextforge:
        notes.append("contextforge: not run (--no-contextforge)")
    default_out = REPO / "bench" / "results" / ("quick" if args.quick else "")
    outdir = (args.out or default_out).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _run(args, QUICK if args.quick else FULL, outdir, notes)
    say(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
