"""`python -m bench.policy [--decisions N] [--out DIR]`: OPA decision latency and CPU, printed.

The bundle is what Giru serves its OPA in production: `giru.policy.bundle` over the shipped
`policies/` and a configuration loaded from manifests (servers whose tools are tagged `pci`,
`phi` and rated `high`, two clients with identity claims, one `kind: Policy` enabling
`pci_dss`, `hipaa` and `soc2` everywhere; `core` is always on). It is written to a temp dir and
loaded by two real `opa run --server -b bundle.tar.gz`: one on a unix socket (how Giru runs its
managed child) and one on a loopback TCP port (an external OPA), to compare the two.

Decisions go through Giru's own code path: `PolicyEngine.decide` (input document, Giru's
`OpaClient` keep-alive pool, result parsing) on uvloop, for three input documents: a small
tools/call, a PHI call (HIPAA minimum necessary) and a PCI call with a 16-digit card number (Luhn,
denied under Req 3.4); plus the tools/list `visible` query over 100 tools (uncached). For each
at concurrency 1 and 16: latency p50/p90/p99/max, decisions/s, Giru-side CPU µs per decision
(`time.process_time`) and OPA's CPU µs per decision (/proc/<pid>/stat).

Writes `<out>/<date>-policy-decision.json` and `<out>/policy.md` (default bench/results/policy/).
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.client import stats
from bench.fleet import GATEWAY_CPUS, LOAD_CPUS, REPO
from bench.machine import describe
from bench.procs import Proc, cpu_seconds, free_port, start
from bench.report import write_standalone
from bench.visibility import measure_visibility
from bench.visibility import targets as visibility_targets
from giru.errors import PolicyUnavailableError
from giru.manifests.config import Config
from giru.manifests.loader import load
from giru.policy import Call, PolicyEngine, find_opa
from giru.policy.bundle import read_sources, shipped_policies
from giru.policy.findings import argument_findings

__all__ = ["SCENARIO", "decision_cpu", "run"]

SCENARIO = "policy-decision"
CONCURRENCY = (1, 16)
TIMEOUT_S = 10.0  # not Giru's 250 ms: a slow answer is measured, not turned into a denial
PAN = "4111 1111 1111 1111"
GIRU_TIMEOUT_US = 250_000  # Giru's default decision timeout (policy.timeout_ms)
LARGE_LIST = 200  # tools per server of the large tools/list point (5 x 200 = 1000, the fleet's)
Say = Callable[[str], None]
Decide = Callable[[int], Awaitable[str]]

# 5 servers x 20 tools = the 100 tools of the tools/list query.
_SERVERS: dict[str, tuple[str, dict[str, str]]] = {
    "files": ("", {}),
    "crm": ("", {}),
    "pay": ("tags: [pci]", {}),
    "ehr": ("", {"patient_records": "{tags: [phi]}", "lab_results": "{tags: [phi]}"}),
    "ledger": ("", {"export_ledger": "{sensitivity: high}", "close_books": "{sensitivity: high}"}),
}
_NAMED = {
    "files": "echo",
    "pay": "charge_card",
    "ehr": "patient_records",
    "ledger": "export_ledger",
}
TOOLS_PER_SERVER = 20

_CLIENTS = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: nurse}
spec:
  apiKeyHash: "sha256:0000000000000000000000000000000000000000000000000000000000000001"
  servers: ["*"]
  claims: {user_id: u-17, role: nurse}
---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: physician}
spec:
  apiKeyHash: "sha256:0000000000000000000000000000000000000000000000000000000000000002"
  servers: ["*"]
  claims: {user_id: u-42, role: physician, mfa: true}
"""

_POLICY = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: regulated}
spec:
  packs: [core, pci_dss, hipaa, soc2]
  data:
    hipaa: {clinical_need_threshold: 10}
    soc2: {authorized_users: [u-17, u-42]}
"""


def tool_names(server: str, count: int = TOOLS_PER_SERVER) -> list[str]:
    named = [_NAMED[server]] if server in _NAMED else []
    named += [t for t in _SERVERS[server][1] if t not in named]
    return [*named, *(f"{server}_tool_{i:03d}" for i in range(count - len(named)))]


def manifests() -> str:
    documents = []
    for server, (tags, tools) in _SERVERS.items():
        meta = "".join(f"    {tool}: {spec}\n" for tool, spec in tools.items())
        documents.append(
            "apiVersion: giru.ai/v1alpha1\nkind: MCPServer\n"
            f"metadata: {{name: {server}}}\nspec:\n  transport: streamable-http\n"
            f"  url: http://127.0.0.1:9/mcp/{server}\n"
            + (f"  {tags}\n" if tags else "")
            + (f"  tools:\n{meta}" if meta else "")
        )
    return "---\n".join([*documents, _CLIENTS, _POLICY])


def load_config(workdir: Path) -> Config:
    folder = workdir / "manifests"
    folder.mkdir()
    (folder / "bench.yaml").write_text(manifests())
    return load(folder)


def engine_for(url: str, config: Config, opa: Path, *, fast_path: bool = True) -> PolicyEngine:
    """A PolicyEngine on an already running OPA at `url`: the shipped sources and `config`
    compiled into bindings and a bundle (no watcher, no readiness monitor: nothing but the
    decisions runs in this process while measuring)."""
    shipped = shipped_policies()
    if shipped is None:
        raise RuntimeError("the shipped policies/ directory is missing")
    engine = PolicyEngine(
        [shipped],
        opa_url=url,
        opa_binary=opa,
        bundle_url="http://127.0.0.1:9/unused",
        timeout_s=TIMEOUT_S,
        fast_path=fast_path,
    )
    engine.sources = read_sources(engine.directories)
    engine.reload(config)
    return engine


def start_opa(opa: Path, bundle: Path, addr: str, workdir: Path, name: str) -> Proc:
    argv = [str(opa), "run", "--server", "--addr", addr, "-b", str(bundle)]
    argv += ["--log-level", "error", "--skip-version-check"]
    return start(name, argv, workdir, cpus=GATEWAY_CPUS)


async def wait_ready(engine: PolicyEngine, proc: Proc, within_s: float = 30.0) -> None:
    """Until OPA answers `data.giru.revision` with the bundle's revision (Giru's readiness)."""
    assert engine.client is not None
    assert engine.bundle is not None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            status, body = await engine.client.request("GET", "/v1/data/giru/revision")
            if status == 200 and orjson.loads(body).get("result") == engine.bundle.revision:
                return
        except PolicyUnavailableError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready after {within_s}s:\n{proc.tail()}")


def tools_call(client: str, server: str, tool: str, arguments: dict[str, Any]) -> Call:
    """The policy input of `client` calling `tool` on `server` with `arguments`."""
    return Call(
        method="tools/call",
        server=server,
        target=tool,
        arguments=arguments,
        client=client,
        subscription=None,
        virtual_server=None,
        request_id="",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=0,
        protocol_version="2025-06-18",
    )


INPUTS: dict[str, Call] = {
    "small tools/call": tools_call("physician", "files", "echo", {"text": "hello"}),
    "PHI (hipaa)": tools_call(
        "nurse", "ehr", "patient_records", {"record_count": 10, "fields": ["name"]}
    ),
    "PCI, 16-digit PAN": tools_call(
        "physician", "pay", "charge_card", {"card": PAN, "amount": 12.5}
    ),
    "PCI, amount and order (no PAN)": tools_call(
        "physician", "pay", "charge_card", {"order": "A-1042", "amount": 12.5}
    ),
}


BASELINE = "baseline: data.giru.revision"


def _calls(template: Call, count: int) -> list[Call]:
    """`count` copies with their own request id and time (OPA sees no two identical inputs)
    and `_varied` arguments."""
    now = time.time_ns()
    return [
        dataclasses.replace(
            template,
            arguments=_varied(template.arguments, i),
            request_id=f"bench-{i:08d}",
            time_ns=now + i * 1000,
        )
        for i in range(count)
    ]


def _varied(arguments: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    """`arguments` as call `index` of a point sends them: another 16-digit card number (the
    `index`th Luhn-valid one, grouped like `PAN`) where they carry one, and 1 to 20 records by
    turns where they ask for some (HIPAA's threshold is 10: some are denied). Calls of one
    caller differ in what the packs read, as they would in use."""
    varied = dict(arguments)
    if "card" in varied:
        body = f"4{index:014d}"
        digits = next(f"{body}{c}" for c in "0123456789" if argument_findings(f"{body}{c}"))
        varied["card"] = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
    if "record_count" in varied:
        varied["record_count"] = 1 + index % 20
    return varied


async def _closed_loop(
    count: int, concurrency: int, one: Decide
) -> tuple[list[float], dict[str, int]]:
    latencies: list[float] = [0.0] * count
    outcomes: dict[str, int] = {}

    async def worker(offset: int) -> None:
        for index in range(offset, count, concurrency):
            began = time.perf_counter_ns()
            outcome = await one(index)
            latencies[index] = (time.perf_counter_ns() - began) / 1000
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    async with asyncio.TaskGroup() as tasks:
        for offset in range(concurrency):
            tasks.create_task(worker(offset))
    return latencies, outcomes


async def measure(
    label: str, count: int, concurrency: int, opa_pid: int, one: Decide
) -> dict[str, Any]:
    await _closed_loop(max(count // 10, 5), concurrency, one)  # warm: connections, caches
    opa0, cpu0, wall0 = cpu_seconds(opa_pid), time.process_time(), time.perf_counter()
    latencies, outcomes = await _closed_loop(count, concurrency, one)
    wall = time.perf_counter() - wall0
    cpu, opa = time.process_time() - cpu0, cpu_seconds(opa_pid) - opa0
    return {
        "input": label,
        "concurrency": concurrency,
        "decisions": count,
        "decisions_per_s": round(count / wall, 1),
        **stats(latencies),
        "over_250ms": sum(1 for latency in latencies if latency > GIRU_TIMEOUT_US),
        "giru_cpu_us_per_decision": round(cpu / count * 1e6, 1),
        "opa_cpu_us_per_decision": round(opa / count * 1e6, 1),
        "outcomes": outcomes,
    }


def _decider(engine: PolicyEngine, calls: list[Call]) -> Decide:
    async def one(index: int) -> str:
        decision = await engine.decide(calls[index % len(calls)])
        if decision.unavailable is not None:
            return "unavailable"
        return "allow" if decision.allow else "deny"

    return one


def routes(per_server: int = TOOLS_PER_SERVER) -> list[tuple[str, str, str]]:
    """(listed name, server, tool) for `per_server` tools of each server (the first 20 are the
    configured ones; the others have only their server's tags)."""
    return [(f"{s}__{t}", s, t) for s in _SERVERS for t in tool_names(s, per_server)]


def _baseline(engine: PolicyEngine, calls: list[Call]) -> Decide:
    """The same input to a trivial query (`data.giru.revision`): OPA's fixed cost per request
    (HTTP, input parsing) and Giru's client cost, without the decision's Rego."""
    client = engine.client
    assert client is not None

    async def one(index: int) -> str:
        document = engine.input_for(calls[index % len(calls)])
        try:
            await client.query("giru/revision", document)
        except PolicyUnavailableError:
            return "unavailable"
        return "answered"

    return one


def input_bytes(engine: PolicyEngine, call: Call) -> int:
    return len(orjson.dumps({"input": engine.input_for(call)}))


def _input_cpu_us(engine: PolicyEngine, call: Call, count: int = 20_000) -> float:
    """Giru CPU µs to build and serialize one input document (the part before the socket)."""
    calls = _calls(call, 100)
    began = time.process_time()
    for index in range(count):
        orjson.dumps({"input": engine.input_for(calls[index % 100])})
    return round((time.process_time() - began) / count * 1e6, 2)


async def _transport(
    name: str, engines: dict[str, PolicyEngine], proc: Proc, decisions: int, say: Say
) -> list[dict[str, Any]]:
    """Every input through each engine ("full": every call asked in full, the code before issue
    15; "fast": the fast path), then the baseline and, on the unix socket, visibility."""
    full = engines["full"]
    await wait_ready(full, proc)
    points = []
    for label, template in INPUTS.items():
        calls = _calls(template, decisions)
        extra = {
            "transport": name,
            "input_bytes": input_bytes(full, template),
            "input_build_cpu_us": _input_cpu_us(full, template),
        }
        for path, engine in engines.items():
            for concurrency in CONCURRENCY:
                engine.decisions.clear()  # the first call of a key is in the measurement too
                decide = _decider(engine, calls)
                point = await measure(label, decisions, concurrency, proc.pid, decide)
                stats = engine.decisions
                point["fast_path"] = {"hits": stats.hits, "asked": stats.asked, "full": stats.full}
                points.append({**extra, "path": PATHS[path], **point})
                say(_line(points[-1]))
    calls = _calls(INPUTS["small tools/call"], decisions)
    for concurrency in CONCURRENCY:
        point = await measure(BASELINE, decisions, concurrency, proc.pid, _baseline(full, calls))
        points.append({"transport": name, "input_bytes": points[0]["input_bytes"], **point})
        points[-1]["path"] = "-"
        say(_line(points[-1]))
    if name == "unix":
        points += await measure_visibility(engines["fast"], proc.pid, routes, say)
    return points


PATHS = {"full": "before: full decision per call", "fast": "after: fast path"}


def decision_cpu(points: list[dict[str, Any]], label: str, path: str) -> float | None:
    for p in points:
        wanted = p.get("input") == label and p.get("path") == PATHS[path]
        if wanted and p["concurrency"] == 16 and p.get("transport") == "unix":
            return round(float(p["giru_cpu_us_per_decision"] + p["opa_cpu_us_per_decision"]), 1)
    return None


def targets(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 15's policy targets beside what this run measured, before and after."""
    rows = []
    for label, today, needs in (
        ("PCI, 16-digit PAN", "548-770 (OPA only)", "arguments that need checking"),
        ("PCI, amount and order (no PAN)", "548-770 (OPA only)", "digits, but no card number"),
        ("PHI (hipaa)", "548-770 (OPA only)", "arguments that need checking"),
        ("small tools/call", "548 (OPA only)", "arguments that need no checking"),
    ):
        rows.append(
            {
                "target": f"policy decision CPU µs per call, Giru + OPA, c=16: {label} ({needs})",
                "issue_today": today,
                "goal": "<= 60",
                "before": decision_cpu(points, label, "full"),
                "after": decision_cpu(points, label, "fast"),
            }
        )
    return rows + visibility_targets(points)


def _line(p: dict[str, Any]) -> str:
    return (
        f"  {p['transport']:<5} {p['input']:<28} {p['path'][:7]:<7} c={p['concurrency']:<3} "
        f"{p['decisions_per_s']:>8.0f}/s p50 {p['p50_us']:>7.1f} p90 {p['p90_us']:>7.1f} "
        f"p99 {p['p99_us']:>7.1f} max {p['max_us']:>8.1f} µs | CPU µs/decision giru "
        f"{p['giru_cpu_us_per_decision']:>6.1f} opa {p['opa_cpu_us_per_decision']:>6.1f} "
        f"| {', '.join(f'{k} {v}' for k, v in sorted(p['outcomes'].items()))}"
        + (f", {p['over_250ms']} over 250 ms" if p["over_250ms"] else "")
    )


def _pinned() -> str:
    if GATEWAY_CPUS == LOAD_CPUS:
        return "no pinning (BENCH_PIN=0)"
    return (
        f"this process (Giru's client) on core(s) {sorted(LOAD_CPUS)}, OPA on core(s) "
        f"{sorted(GATEWAY_CPUS)} (Go sizes GOMAXPROCS from its affinity)"
    )


def setup_text(decisions: int) -> dict[str, Any]:
    return {
        "policy bundle": (
            "giru.policy.bundle over the shipped policies/ with one binding: packs core, "
            "pci_dss, hipaa, soc2 (kind: Policy, empty selector; hipaa clinical_need_threshold "
            "10, soc2 authorized_users); 5 servers x 20 tools, tools tagged pci / phi / high"
        ),
        "opa": "opa run --server -b bundle.tar.gz, one on a unix socket, one on loopback TCP",
        "client": (
            "PolicyEngine.decide (input_for + Giru's OpaClient keep-alive pool + result parsing) "
            f"on uvloop, timeout {TIMEOUT_S * 1000:.0f} ms"
        ),
        "inputs": (
            "small tools/call {text: hello}; PHI call {record_count, fields: [name]} as a nurse, "
            "record_count 1 to 20 by turns (over 10: denied); PCI call {card: a 16-digit "
            "Luhn-valid PAN, another per call, amount} (denied, Req 3.4); PCI call {order: "
            "A-1042, amount} (digits, no card number: allowed); "
            "tools/list `visible` over 100 and 1000 tools (Giru's per-client cache cleared per "
            "query: the cost of the first tools/list per client after a revision change); "
            "baseline = the small input to the trivial query data.giru.revision"
        ),
        "points": (
            f"{decisions} decisions per point ({max(decisions // 25, 100)} for visible over 100 "
            "tools, 20 over 1000 tools at c=1 only), after a warm-up of a tenth of that (at "
            f"least 5), at concurrency {', '.join(map(str, CONCURRENCY))}; `over_250ms` counts "
            "decisions slower than Giru's default timeout (a denial in production)"
        ),
        "cores": _pinned(),
        "CPU µs/decision": (
            "giru: time.process_time of this process ÷ decisions (the client side, as in the "
            "gateway); opa: Δ(utime+stime) of the OPA process from /proc/<pid>/stat ÷ decisions"
        ),
    }


async def _measure_all(
    workdir: Path, opa: Path, decisions: int, say: Say, tcp_too: bool
) -> list[dict[str, Any]]:
    config = load_config(workdir)
    sock = workdir / "opa.sock"
    port = free_port()
    unix = {
        "full": engine_for(f"unix://{sock}", config, opa, fast_path=False),
        "fast": engine_for(f"unix://{sock}", config, opa),
    }
    tcp = {
        "full": engine_for(f"http://127.0.0.1:{port}", config, opa, fast_path=False),
        "fast": engine_for(f"http://127.0.0.1:{port}", config, opa),
    }
    bundles = {e.bundle.revision if e.bundle else None for e in [*unix.values(), *tcp.values()]}
    if len(bundles) != 1 or None in bundles:
        raise RuntimeError("the engines built different bundles")
    first = unix["full"]
    assert first.bundle is not None
    bundle = workdir / "bundle.tar.gz"
    bundle.write_bytes(first.bundle.archive)
    say(
        f"bundle {first.bundle.revision}: {len(first.bundle.archive)} bytes, packs "
        f"{', '.join(sorted(first.bundle.packs))}"
    )
    points: list[dict[str, Any]] = []
    transports = [("unix", unix, f"unix://{sock}"), ("tcp", tcp, f"127.0.0.1:{port}")]
    for name, engines, addr in transports[: 2 if tcp_too else 1]:
        proc = start_opa(opa, bundle, addr, workdir, f"opa-{name}")
        try:
            points += await _transport(name, engines, proc, decisions, say)
        finally:
            for engine in engines.values():
                assert engine.client is not None
                engine.client.close()
            proc.stop()
    return points


def run(decisions: int, say: Say = print, *, tcp_too: bool = False) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}}` (for `python -m bench` too)."""
    opa = find_opa(None)
    if opa is None:
        return {"points": [], "error": "the OPA binary was not found (make peers)"}
    workdir = Path(tempfile.mkdtemp(prefix="giru-bench-policy-"))
    load_before = os.getloadavg()
    try:
        points = uvloop.run(_measure_all(workdir, opa, decisions, say, tcp_too))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "points": points + targets(points),
        "setup": setup_text(decisions),
        "load": {"before": load_before, "after": os.getloadavg()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.policy", description=__doc__)
    parser.add_argument("--decisions", type=int, default=5000, help="decisions per point")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "policy")
    parser.add_argument("--tcp", action="store_true", help="also OPA on loopback TCP")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)
    machine = describe(None)
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores; opa {machine['opa']}")
    result = run(args.decisions, tcp_too=args.tcp)
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "policy")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
