"""`python -m bench.visibility [--out DIR]`: tools/list visibility, before and after, printed.

Also the visibility points of `bench.policy`: before (every tool decided on its own, no
sharing: the code before issue 15) and after (one `visible` query per caller and catalog over
one tool per class, cached, single flight), same OPA, same run.

A *change* is what Giru does when something changes: a new bundle forgets the answers, the
classes, the class decisions and the packs' name plans (`engine.visibility.clear(policy=True)`:
the first list asks OPA twice, the plans then `visible`, unless the plans were asked when the
bundle became active, which `giru run` does). A new configuration goes through `engine.reload`,
which forgets the answers and the classes but keeps the class decisions under all they read:
*config* changes the listing caller's claims (a claim `shift` takes a new value each round), so
every class is asked about again, the worst case of a configuration change; *config-other*
reloads a configuration that changes nothing the caller's decisions read (the same one), so the
classes are made again and OPA is not asked. A new catalog (a tool added) is a new route tuple
and forgets nothing. At concurrency 1 every list follows a change: the cost of the first
tools/list after it. At concurrency 16 and 64, each round makes one bundle change and then that
many clients list at once (callers alternate between the two configured clients): what a fleet
of agents sees right after a policy change. `over_250ms` counts lists slower than Giru's
default decision timeout, `unavailable` the lists that got no answer within the bench's own
10 s.

The paired point (`PAIRED_ROUNDS` rounds, 1,000 tools, first list after every answer and class
decision was forgotten, the name plans given) measures what declaring `"server": false` in the
packs' `tool_names` is worth, in alternating rounds of one process: *per server* (the name
plans with `server` set, as before the declaration: one class per server and facts, 8 classes),
*across servers* (the plans as the packs declare them: 5 classes) and *across servers (A/A)*,
the same again to show the noise of this machine.

Standalone, it writes `<out>/<date>-tools-list-visibility.json` and `<out>/latest.md` (default
bench/results/visibility/), with the machine and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.client import stats
from bench.procs import cpu_seconds
from giru.errors import PolicyUnavailableError
from giru.manifests.config import Config
from giru.policy import Call, PolicyEngine, find_opa
from giru.policy.visibility import NamePlan, tool_classes

__all__ = ["SCENARIO", "TARGET_FIRST_LIST_US", "list_point", "measure_visibility", "targets"]

SCENARIO = "tools-list-visibility"
BUNDLE, CONFIG, CONFIG_OTHER, CATALOG = "bundle", "config", "config-other", "catalog"
MODES = {
    BUNDLE: "first list after a bundle change",
    CONFIG: "first list after a configuration change",
    CONFIG_OTHER: "first list after a configuration change the caller's decisions do not read",
    CATALOG: "first list after a catalog change (a tool added)",
}
_SHIFTS = itertools.count(1)
"""The value of the listing clients' claim `shift` after each `config` change."""

GIRU_TIMEOUT_US = 250_000
TARGET_FIRST_LIST_US = 5_000
Say = Callable[[str], None]
Routes = list[tuple[str, str, str]]


def _listing(client: str, index: int) -> Call:
    return Call(
        method="tools/list",
        server="",
        target="",
        arguments={},
        client=client,
        subscription=None,
        virtual_server=None,
        request_id=f"bench-list-{index:08d}",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=time.time_ns(),
        protocol_version="2025-06-18",
    )


def _change(engine: PolicyEngine, before: bool, change: str = BUNDLE) -> None:
    if before:  # no name plans: every tool in a class of its own, as the old query sent them
        engine.visibility.clear(policy=True)
        engine.visibility.plans.update(dict.fromkeys(engine.bindings))
    elif change == BUNDLE:
        engine.visibility.clear(policy=True)
    elif change == CONFIG:
        engine.reload(_shifted(engine._config, next(_SHIFTS)))
    elif change == CONFIG_OTHER:
        engine.reload(engine._config)
    # CATALOG: a new route tuple, nothing is cleared (see _catalog)


def _shifted(config: Config, shift: int) -> Config:
    """`config` with the claim `shift` of every client set to `shift` (the bundle stays)."""
    clients = {
        name: replace(client, claims={**client.claims, "shift": shift})
        for name, client in config.clients.items()
    }
    return replace(config, clients=clients)


async def _one(engine: PolicyEngine, routes: Routes, client: str, index: int) -> tuple[float, str]:
    subscriptions: dict[str, str] = {}  # as a view holds them: only granted tools (none here)
    began = time.perf_counter_ns()
    try:
        visible = await engine.visible(_listing(client, index), subscriptions, routes)
        outcome = f"{len(visible)} of {len(routes)} visible"
    except PolicyUnavailableError:
        outcome = "unavailable"
    return (time.perf_counter_ns() - began) / 1000, outcome


async def _rounds(
    engine: PolicyEngine, routes: Routes, concurrency: int, rounds: int, before: bool, change: str
) -> tuple[list[float], dict[str, int], float]:
    """The lists' latencies and outcomes, and the CPU seconds the changes took (a reload
    compiles the configuration and builds a bundle: not a list's cost)."""
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    clients = ("nurse", "physician")
    changing = 0.0
    for round_ in range(rounds):
        began = time.process_time()
        _change(engine, before, change)
        changing += time.process_time() - began
        routes = _catalog(routes, round_) if change == CATALOG else routes
        if before:  # no single flight before: every list computed on its own
            jobs = []
            for i in range(concurrency):
                jobs.append(_unshared(engine, routes, clients[i % 2], round_ * concurrency + i))
            done = await asyncio.gather(*jobs)
        else:
            done = await asyncio.gather(
                *(
                    _one(engine, routes, clients[i % 2], round_ * concurrency + i)
                    for i in range(concurrency)
                )
            )
        for latency, outcome in done:
            latencies.append(latency)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return latencies, outcomes, changing


def _catalog(routes: Routes, round_: int) -> Routes:
    """The catalog after an upstream added one tool: a new route tuple, as a view rebuilt."""
    server = routes[0][1]
    return [*routes, (f"{server}__added_{round_:04d}", server, f"added_{round_:04d}")]


async def _unshared(
    engine: PolicyEngine, routes: Routes, client: str, index: int
) -> tuple[float, str]:
    """A list that shares nothing with the others (distinct catalog key, fresh cache)."""
    unique = [*routes, (f"bench-unshared-{index}", routes[0][1], routes[0][2])]
    return await _one(engine, unique, client, index)


async def _point(
    engine: PolicyEngine,
    opa_pid: int,
    routes: Routes,
    concurrency: int,
    rounds: int,
    before: bool,
    change: str = BUNDLE,
) -> dict[str, Any]:
    if not before:  # warm: connections, OPA's caches (before is slow enough without)
        await _rounds(engine, routes, concurrency, 1, before, change)
    opa0, cpu0, wall0 = cpu_seconds(opa_pid), time.process_time(), time.perf_counter()
    latencies, outcomes, changing = await _rounds(
        engine, routes, concurrency, rounds, before, change
    )
    wall = time.perf_counter() - wall0
    cpu, opa = time.process_time() - cpu0 - changing, cpu_seconds(opa_pid) - opa0
    count = len(latencies)
    return {
        "input": f"tools/list visible, {len(routes)} tools",
        "path": "before: tool by tool" if before else "after: one query per caller",
        "mode": MODES[change] if concurrency == 1 else "lists right after a bundle change",
        "change": change,
        "tools": len(routes),
        "concurrency": concurrency,
        "lists": count,
        "changes": rounds,
        "lists_per_s": round(count / wall, 1),
        **stats(latencies),
        "over_250ms": sum(1 for latency in latencies if latency > GIRU_TIMEOUT_US),
        "unavailable": outcomes.get("unavailable", 0),
        "giru_cpu_us_per_list": round(cpu / count * 1e6, 1),
        "opa_cpu_us_per_list": round(opa / count * 1e6, 1),
        "outcomes": outcomes,
    }


PAIRED_ROUNDS = 150
PAIRED = (
    ("after: classes per server (server read)", True),
    ("after: classes across servers", False),
    ("after: classes across servers (A/A)", False),
)


async def _paired(
    engine: PolicyEngine, opa_pid: int, routes: Routes, rounds: int
) -> list[dict[str, Any]]:
    """Alternating rounds of the PAIRED variants: a configuration change, then one list."""
    latencies: dict[str, list[float]] = {label: [] for label, _ in PAIRED}
    giru = dict.fromkeys(latencies, 0.0)
    opa = dict.fromkeys(latencies, 0.0)
    declared = await engine._name_plans(list(engine.bindings))
    for round_ in range(rounds + 1):  # round 0 warms up
        for label, server in PAIRED:
            engine.visibility.clear(policy=True)  # every class asked about: the OPA cost
            engine.visibility.plans.update(_variant(declared, server))
            opa0, cpu0 = cpu_seconds(opa_pid), time.process_time()
            latency, outcome = await _one(engine, routes, "nurse", round_)
            if round_ and outcome != "unavailable":
                latencies[label].append(latency)
                giru[label] += time.process_time() - cpu0
                opa[label] += cpu_seconds(opa_pid) - opa0
    evaluation = await _opa_eval_us(engine, routes, declared)
    points = []
    for label, _ in PAIRED:
        count = len(latencies[label])
        points.append(
            {
                "input": f"tools/list visible, {len(routes)} tools",
                "path": f"{label}, {_classes(engine, routes, declared, label)} classes",
                "mode": "paired: first list asking OPA about every class (name plans given)",
                "change": CONFIG,
                "tools": len(routes),
                "concurrency": 1,
                "lists": count,
                "changes": rounds,
                **stats(latencies[label]),
                "over_250ms": sum(1 for x in latencies[label] if x > GIRU_TIMEOUT_US),
                "unavailable": rounds - count,
                "giru_cpu_us_per_list": round(giru[label] / max(count, 1) * 1e6, 1),
                "opa_cpu_us_per_list": round(opa[label] / max(count, 1) * 1e6, 1),
                "opa_eval_us": evaluation[label],
            }
        )
    return points


async def _opa_eval_us(
    engine: PolicyEngine, routes: Routes, declared: Mapping[str, NamePlan | None], times: int = 100
) -> dict[str, float]:
    """OPA's own time (median `timer_server_handler_ns` of `?metrics=true`) for the `visible`
    query each PAIRED variant sends, the variants alternating: precise where /proc's 10 ms
    ticks are not."""
    facts, client = engine._facts, engine.client
    assert client is not None
    bindings = [facts.table.key(server, None, None) for _, server, _ in routes]
    bodies = {}
    for label, server_read in PAIRED:
        plans = _variant(declared, server_read)
        classes = tool_classes(routes, bindings, facts.tool_keys, plans, facts.server_keys)
        items = [
            {
                "server": server,
                "virtual_server": None,
                "tool": facts.tool(server, tool),
                "binding": binding,
                "key": str(index),
            }
            for index, (binding, server, tool) in enumerate(classes.representatives)
        ]
        document = {**facts.listing(_listing("nurse", 0)), "tools": items}
        bodies[label] = orjson.dumps({"input": document})
    path = "/v1/data/giru/decision/visible?metrics=true"
    found: dict[str, list[float]] = {label: [] for label in bodies}
    for _ in range(times):
        for label, body in bodies.items():
            _, answer = await client.request("POST", path, body, timeout_s=10.0)
            found[label].append(orjson.loads(answer)["metrics"]["timer_server_handler_ns"] / 1e3)
    return {label: round(sorted(xs)[len(xs) // 2], 1) for label, xs in found.items()}


def _variant(declared: Mapping[str, NamePlan | None], server: bool) -> dict[str, NamePlan | None]:
    """The declared name plans, with `server` set when `server` (the packs before they said
    they read the server only in names)."""
    return {
        binding: replace(plan, server=True) if plan is not None and server else plan
        for binding, plan in declared.items()
    }


def _classes(
    engine: PolicyEngine, routes: Routes, declared: Mapping[str, NamePlan | None], label: str
) -> int:
    """How many classes the catalog makes under the variant `label`."""
    plans = _variant(declared, dict(PAIRED)[label])
    facts = engine._facts
    bindings = [facts.table.key(server_, None, None) for _, server_, _ in routes]
    return len(tool_classes(routes, bindings, facts.tool_keys, plans, facts.server_keys).members)


# (tools per server, concurrency, rounds, before too). Before, 16 or 64 lists of 1,000 tools
# each take OPA minutes (0.2 s of CPU per list on one core), so those points are after only.
PLAN: tuple[tuple[int, int, int, bool], ...] = (
    (20, 1, 30, True),
    (200, 1, 30, True),
    (20, 16, 5, True),
    (20, 64, 3, True),
    (200, 16, 10, False),
    (200, 64, 10, False),
)
BEFORE_ROUNDS_1000 = 10  # tool by tool, 1,000 tools: ~0.4 s of OPA CPU per list
FOCUS: tuple[tuple[int, int, int, bool], ...] = ((200, 1, 30, False), (200, 64, 10, False))
"""`--focus`: the 1,000-tool points of issue 15's target only (what bench.visibility_ab runs)."""


async def measure_visibility(
    engine: PolicyEngine,
    opa_pid: int,
    routes_for: Callable[[int], Routes],
    say: Say,
    plan: tuple[tuple[int, int, int, bool], ...] = PLAN,
    paired: bool = True,
) -> list[dict[str, Any]]:
    points = []
    for per_server, concurrency, rounds, with_before in plan:
        routes = routes_for(per_server)
        if with_before:
            few = min(rounds, BEFORE_ROUNDS_1000) if per_server > 20 else rounds
            points.append(await _point(engine, opa_pid, routes, concurrency, few, True))
            say(_line(points[-1]))
        changes = (BUNDLE, CONFIG, CONFIG_OTHER, CATALOG) if concurrency == 1 else (BUNDLE,)
        for change in changes:
            point = await _point(engine, opa_pid, routes, concurrency, rounds, False, change)
            points.append(point)
            say(_line(point))
        if paired and per_server > 20 and concurrency == 1:
            for point in await _paired(engine, opa_pid, routes, PAIRED_ROUNDS):
                points.append(point)
                say(_line(point))
    _change(engine, False)
    return points


def list_point(
    points: list[dict[str, Any]], tools: int, concurrency: int, before: bool, change: str = BUNDLE
) -> dict[str, Any]:
    for p in points:
        if p.get("tools") != tools or p["concurrency"] != concurrency or "mode" not in p:
            continue
        if p["mode"].startswith("paired"):
            continue
        earlier = p["path"].startswith("before")
        if earlier == before and (before or p.get("change") == change):
            return p
    return {}


def targets(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 15's visibility targets beside what this run measured, before and after."""
    rows = []
    for tools in (100, 1000):
        before = list_point(points, tools, 1, True)
        for change in (BUNDLE, CONFIG, CONFIG_OTHER, CATALOG):
            after = list_point(points, tools, 1, False, change)
            rows.append(
                {
                    "target": f"tools/list, {tools} tools, {MODES[change]}, p50 ms",
                    "issue_today": "219 ms" if tools == 1000 else "22.7 ms (OPA CPU)",
                    "goal": f"<= {TARGET_FIRST_LIST_US / 1000:g} ms" if tools == 1000 else "-",
                    "before": round(before["p50_us"] / 1000, 2) if before else None,
                    "after": round(after["p50_us"] / 1000, 2) if after else None,
                }
            )
        for concurrency in (16, 64):
            before = list_point(points, tools, concurrency, True)
            after = list_point(points, tools, concurrency, False)
            rows.append(
                {
                    "target": (
                        f"tools/list, {tools} tools, {concurrency} concurrent right after a "
                        "bundle change: lists over 250 ms / unanswered"
                    ),
                    "issue_today": "144 of 200 over 250 ms"
                    if (tools, concurrency) == (100, 16)
                    else "-",
                    "goal": "0" if concurrency == 64 else "-",
                    "before": _slow(before),
                    "after": _slow(after),
                }
            )
    return rows


def _slow(point: dict[str, Any]) -> str | None:
    if not point:
        return None
    return f"{point['over_250ms']} of {point['lists']} / {point['unavailable']}"


def _line(p: dict[str, Any]) -> str:
    evaluation = f" | OPA's own time {p['opa_eval_us']:.1f} µs" if "opa_eval_us" in p else ""
    return (
        f"  {p['input']:<30} {p['path'][:26]:<26} {p['change']:<6} c={p['concurrency']:<3} "
        f"p50 {p['p50_us']:>10.1f} "
        f"p99 {p['p99_us']:>10.1f} µs | CPU µs/list giru {p['giru_cpu_us_per_list']:>8.1f} opa "
        f"{p['opa_cpu_us_per_list']:>9.1f} | over 250 ms {p['over_250ms']}, unavailable "
        f"{p['unavailable']}{evaluation}"
    )


async def _measure(workdir: Path, opa: Path, say: Say, focus: bool = False) -> list[dict[str, Any]]:
    from bench.policy import engine_for, load_config, routes, start_opa, wait_ready

    config = load_config(workdir)
    sock = workdir / "opa.sock"
    engine = engine_for(f"unix://{sock}", config, opa)
    assert engine.bundle is not None
    bundle = workdir / "bundle.tar.gz"
    bundle.write_bytes(engine.bundle.archive)
    proc = start_opa(opa, bundle, f"unix://{sock}", workdir, "opa-unix")
    try:
        await wait_ready(engine, proc)
        if focus:
            return await measure_visibility(engine, proc.pid, routes, say, FOCUS, paired=False)
        return await measure_visibility(engine, proc.pid, routes, say)
    finally:
        assert engine.client is not None
        engine.client.close()
        proc.stop()


def setup_text() -> dict[str, Any]:
    from bench.policy import setup_text as policy_setup

    common = policy_setup(0)
    return {
        "policy bundle": common["policy bundle"],
        "opa": "opa run --server -b bundle.tar.gz on a unix socket (Giru's managed child's way)",
        "client": (
            "PolicyEngine.visible (listing input, classes, Giru's OpaClient keep-alive pool) on "
            "uvloop, the bench's own timeout 10 s (slow lists are measured, not refused)"
        ),
        "catalogs": (
            "100 tools (5 servers x 20) and 1,000 (5 x 200: the first 20 of each server "
            "configured, the rest with their server's tags only)"
        ),
        "points": (
            "c=1: 30 lists, each right after a change (before: 10 at 1,000 tools); c=16 and 64: "
            "rounds of one bundle change then that many lists at once, callers alternating "
            "between two clients (nurse, physician); one warm-up round before each after point; "
            f"paired (1,000 tools): {PAIRED_ROUNDS} rounds alternating the name plans with "
            "`server` read (classes per server) and as declared (across servers), plus an A/A; "
            "OPA's own time: the median handler time OPA reports (?metrics=true) for each "
            "variant's visible query, the variants alternating"
        ),
        "cores": common["cores"],
        "CPU µs/list": (
            "giru: time.process_time of this process ÷ lists (the gateway's side; the changes "
            "themselves, a reload's compile and bundle, excluded); opa: "
            "Δ(utime+stime) of the OPA process from /proc/<pid>/stat ÷ lists (10 ms ticks)"
        ),
    }


def run(say: Say = print, focus: bool = False) -> dict[str, Any]:
    """The scenario: `{"points": [...], "setup": {...}, "load": {...}}`."""
    opa = find_opa(None)
    workdir = Path(tempfile.mkdtemp(prefix="giru-bench-visibility-"))
    load_before = os.getloadavg()
    try:
        points = uvloop.run(_measure(workdir, opa, say, focus))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "points": points + targets(points),
        "setup": setup_text(),
        "load": {"before": load_before, "after": os.getloadavg()},
    }


def main(argv: list[str] | None = None) -> None:
    from bench.fleet import LOAD_CPUS, REPO
    from bench.machine import describe
    from bench.report import write_standalone

    parser = argparse.ArgumentParser(prog="python -m bench.visibility", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "visibility")
    parser.add_argument(
        "--focus", type=Path, help="only the 1,000-tool points, as JSON to this file (nothing else)"
    )
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, LOAD_CPUS)
    if args.focus is not None:
        focused = run(focus=True)
        args.focus.write_bytes(orjson.dumps(focused["points"]))
        return
    machine = describe(None)
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores; opa {machine['opa']}")
    result = run()
    machine["load average at end"] = ", ".join(f"{x:.2f}" for x in result["load"]["after"])
    written = write_standalone(args.out.resolve(), SCENARIO, machine, result, "latest")
    print(f"wrote {written[0]} and {written[1]}")


if __name__ == "__main__":
    main()
