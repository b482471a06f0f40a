"""The scenarios of issue 2, each returning plain dicts for the JSON result files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench.client import (
    Endpoint,
    close_sessions,
    initialize,
    open_sessions,
    rate_run,
    stats,
)
from bench.fleet import (
    EDGE_WORKER,
    LOAD_CPUS,
    NOPOLICY,
    OAUTH,
    SUBSCRIBED,
    Fleet,
    Target,
    opa_pid,
)
from bench.procs import cpu_seconds, rss_kb, tree
from bench.wrk import run_wrk

__all__ = [
    "Durations",
    "alone",
    "closed_loop",
    "idle_sessions",
    "tools_call",
    "tools_call_rate",
    "tools_list",
]

Say = Callable[[str], None]


@dataclass(frozen=True)
class Durations:
    warmup_s: float
    run_s: float
    rate_s: float
    rate_rps: float
    concurrency: tuple[int, ...]
    list_concurrency: tuple[int, ...]
    sessions: int
    decisions: int = 5000  # per point of the policy-decision scenario (bench.policy)
    governed_calls: int = 20_000  # per point of the governance scenario (bench.governance)
    identity_calls: int = 1500  # per round of the identity scenario (bench.identity)
    oauth_rounds: int = 5  # alternating giru / giru-oauth rounds per concurrency (tools-call)
    oauth_round_s: float = 4.0


@contextlib.contextmanager
def alone(fleet: Fleet, target: Target) -> Iterator[None]:
    """SIGSTOP the other gateways (and Envoys, and standby control planes) while `target` is
    measured: they share its core, and an idle ContextForge still runs health checks and cleanup
    loops that would steal from Giru. giru-limits and the Envoy targets share giru's process."""
    keep = {target.proc.pid} | ({target.edge.proc.pid} if target.edge is not None else set())
    others = {p.pid for p in fleet.gateway_procs()} - keep
    # Giru's managed OPA child runs in its own session: stop the whole tree, not just the group.
    stopped = {pid: tree(pid) for pid in others}
    for pid, members in stopped.items():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGSTOP)
        _signal_all(members, signal.SIGSTOP)
    try:
        if target.edge is not None:  # its health checks may have failed while giru was stopped
            target.edge.wait_routed()
        yield
    finally:
        for pid, members in stopped.items():
            _signal_all(members, signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)


def _signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _session(endpoint: Endpoint) -> str | None:
    async def go() -> str | None:
        async with aiohttp.ClientSession() as http:
            return await initialize(http, endpoint)

    return asyncio.run(go()) if endpoint.stateful else None


def _measured_wrk(
    target: Target,
    fleet: Fleet,
    *,
    method: str,
    connections: int,
    seconds: float,
    warmup_s: float,
    pace_ms: int = 0,
) -> dict[str, Any]:
    """One wrk point: warm up, then measure with CPU time of the target and the upstreams."""
    with alone(fleet, target):
        sid = _session(target.endpoint)
        common: dict[str, Any] = {
            "method": method,
            "session_id": sid,
            "cpus": LOAD_CPUS,
            "pace_ms": pace_ms,
        }
        run_wrk(target.endpoint, connections=connections, seconds=warmup_s, **common)
        return _wrk_point(target, fleet, connections, seconds, common)


class _CpuMeter:
    """CPU seconds (utime+stime from /proc) spent during one point by what serves `target`: the
    upstreams; for a gateway its process tree (OPA's managed child included) and, separately,
    that child and the Envoy in front."""

    def __init__(self, target: Target, fleet: Fleet) -> None:
        gateway = target.kind == "gateway"
        self._pids: dict[str, list[int]] = {"upstream": [p.pid for p in fleet.upstreams]}
        if gateway:
            self._pids["gateway"] = [target.proc.pid]
        opa = opa_pid(target.proc.pid) if gateway else None
        if opa is not None:
            self._pids["opa"] = [opa]
        if target.edge is not None:
            self._pids["envoy"] = [target.edge.proc.pid]
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        return {key: sum(cpu_seconds(pid) for pid in pids) for key, pids in self._pids.items()}

    def per_call(self, calls: int, seconds: float) -> dict[str, float]:
        """`<what>_cpu_us_per_call` for each measured part; `gateway_cpu_util` in cores."""
        now = self._now()
        spent = {key: now[key] - self._start[key] for key in now}
        out = {
            f"{key}_cpu_us_per_call": round(cpu / max(calls, 1) * 1e6, 1)
            for key, cpu in spent.items()
        }
        if "gateway" in spent and seconds > 0:
            out["gateway_cpu_util"] = round(spent["gateway"] / seconds, 3)
        return out


def _wrk_point(
    target: Target, fleet: Fleet, connections: int, seconds: float, common: dict[str, Any]
) -> dict[str, Any]:
    meter = _CpuMeter(target, fleet)
    result = run_wrk(target.endpoint, connections=connections, seconds=seconds, **common)
    cpu = meter.per_call(result["requests"], result["duration_us"] / 1e6)
    point = {
        "target": target.name,
        "concurrency": connections,
        "rps": result["rps"],
        "requests": result["requests"],
        "errors": result["errors"],
        **{k: result[k] for k in ("p50_us", "p90_us", "p99_us", "p999_us", "mean_us", "max_us")},
        **cpu,
        "rss_kb_after": rss_kb(target.proc.pid),
    }
    if result["errors"]:
        keys = ("bad", "connect_errors", "read_errors", "write_errors", "timeouts", "first_bad")
        point["error_detail"] = {k: result[k] for k in keys if result.get(k)}
    return point


def _added(points: list[dict[str, Any]]) -> None:
    """Fill `added_p50_us` / `added_p99_us`: a gateway minus direct at the same concurrency."""
    direct = {p["concurrency"]: p for p in points if p["target"] == "direct"}
    for point in points:
        base = direct.get(point["concurrency"])
        if point["target"] != "direct" and base is not None:
            point["added_p50_us"] = round(point["p50_us"] - base["p50_us"], 1)
            point["added_p99_us"] = round(point["p99_us"] - base["p99_us"], 1)
            point["throughput_vs_direct"] = round(point["rps"] / base["rps"], 4)
    _policy_cost(points)
    _edge_cost(points)
    _oauth_cost(points)


def _oauth_cost(points: list[dict[str, Any]]) -> None:
    """On each giru-oauth point: what a person's OAuth access token costs per call next to an
    API key, giru-oauth minus giru (the same process, the same concurrency or mode, this run)."""
    keys = {_key(p): p for p in points if p["target"] == EDGE_WORKER and "p50_us" in p}
    for point in points:
        key = keys.get(_key(point))
        if point["target"] != OAUTH or key is None or "p50_us" not in point:
            continue
        point["oauth_vs"] = EDGE_WORKER
        point["oauth_added_p50_us"] = round(point["p50_us"] - key["p50_us"], 1)
        point["oauth_added_p99_us"] = round(point["p99_us"] - key["p99_us"], 1)
        cpu, key_cpu = point.get("gateway_cpu_us_per_call"), key.get("gateway_cpu_us_per_call")
        if cpu is not None and key_cpu is not None:
            point["oauth_added_cpu_us_per_call"] = round(cpu - key_cpu, 1)


def _policy_cost(points: list[dict[str, Any]]) -> None:
    """On each giru point: what the OPA decision adds per call, giru minus giru-nopolicy at the
    same concurrency (latency, and CPU of the process tree, OPA included)."""
    bare = {p.get("concurrency"): p for p in points if p["target"] == NOPOLICY}
    for point in points:
        base = bare.get(point.get("concurrency"))
        measured = "p50_us" in point and base is not None and "p50_us" in base
        if point["target"] != "giru" or base is None or not measured:
            continue
        point["policy_added_p50_us"] = round(point["p50_us"] - base["p50_us"], 1)
        point["policy_added_p99_us"] = round(point["p99_us"] - base["p99_us"], 1)
        cpu, bare_cpu = point.get("gateway_cpu_us_per_call"), base.get("gateway_cpu_us_per_call")
        if cpu is not None and bare_cpu is not None:
            point["policy_added_cpu_us_per_call"] = round(cpu - bare_cpu, 1)


def _edge_cost(points: list[dict[str, Any]]) -> None:
    """On each point through Envoy: what Envoy adds per call over giru direct (the same giru
    process reached without Envoy, same concurrency or mode, same run): latency, throughput, and
    CPU (giru's process tree + Envoy's) minus giru's."""
    base = {_key(p): p for p in points if p["target"] == EDGE_WORKER and "p50_us" in p}
    for point in points:
        worker = base.get(_key(point))
        if "envoy_cpu_us_per_call" not in point or "p50_us" not in point or worker is None:
            continue
        point["edge_vs"] = EDGE_WORKER
        point["edge_added_p50_us"] = round(point["p50_us"] - worker["p50_us"], 1)
        point["edge_added_p99_us"] = round(point["p99_us"] - worker["p99_us"], 1)
        point["throughput_vs_giru"] = round(point["rps"] / worker["rps"], 4)
        total = point["gateway_cpu_us_per_call"] + point["envoy_cpu_us_per_call"]
        point["edge_added_cpu_us_per_call"] = round(total - worker["gateway_cpu_us_per_call"], 1)


def _key(point: dict[str, Any]) -> Any:
    return point.get("concurrency", point.get("mode"))


def closed_loop(
    fleet: Fleet,
    d: Durations,
    say: Say,
    concurrency: tuple[int, ...],
    names: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """tools/call closed loop at each of `concurrency`, direct vs each gateway (only the targets
    named in `names`, when given), with what each adds over direct, policy and Envoy."""
    points = []
    for connections in concurrency:
        for target in fleet.targets.values():
            if names is not None and target.name not in names:
                continue
            point = _measured_wrk(
                target,
                fleet,
                method="tools/call",
                connections=connections,
                seconds=d.run_s,
                warmup_s=d.warmup_s,
            )
            points.append(point)
            say(
                f"  tools/call {target.name:>12} c={connections:<3} {point['rps']:>9.1f} req/s "
                f"p50 {point['p50_us'] / 1000:.3f} ms p99 {point['p99_us'] / 1000:.3f} ms "
                f"errors {point['errors']}"
            )
    _added(points)
    return points


def tools_call(fleet: Fleet, d: Durations, say: Say) -> dict[str, Any]:
    """Scenario 1: tools/call closed loop at each concurrency, direct vs each gateway."""
    points = closed_loop(fleet, d, say, d.concurrency)
    return {"points": points, "oauth_rounds": oauth_rounds(fleet, d, say)}


def oauth_rounds(fleet: Fleet, d: Durations, say: Say) -> list[dict[str, Any]]:
    """giru, giru-key-sub and giru-oauth (the same process; an API key, an API key granted by a
    Subscription, a cached access token whose person is granted by a Subscription) measured in
    `d.oauth_rounds` alternating rounds per concurrency: on a shared machine one point each is
    too noisy to show a difference of a few µs; the median of the paired differences is not."""
    if OAUTH not in fleet.targets:
        return []
    names = [EDGE_WORKER, SUBSCRIBED, OAUTH]
    results = []
    for connections in (1, 16):
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(d.oauth_rounds):
            for name in names:
                point = _measured_wrk(
                    fleet.targets[name],
                    fleet,
                    method="tools/call",
                    connections=connections,
                    seconds=d.oauth_round_s,
                    warmup_s=1,
                )
                cpu[name].append(point["gateway_cpu_us_per_call"])
        result = {
            "concurrency": connections,
            "rounds": d.oauth_rounds,
            "seconds_per_round": d.oauth_round_s,
            "api_key_cpu_us_per_call": _median(cpu[EDGE_WORKER]),
            "subscribed_key_cpu_us_per_call": _median(cpu[SUBSCRIBED]),
            "oauth_cpu_us_per_call": _median(cpu[OAUTH]),
            "added_cpu_us_per_call": _median_added(cpu[EDGE_WORKER], cpu[OAUTH]),
            "added_vs_subscribed_cpu_us_per_call": _median_added(cpu[SUBSCRIBED], cpu[OAUTH]),
            "api_key_rounds": cpu[EDGE_WORKER],
            "subscribed_key_rounds": cpu[SUBSCRIBED],
            "oauth_rounds": cpu[OAUTH],
        }
        results.append(result)
        say(
            f"  {OAUTH} c={connections:<3} {d.oauth_rounds} alternating rounds: api key "
            f"{result['api_key_cpu_us_per_call']:.1f} µs, subscribed key "
            f"{result['subscribed_key_cpu_us_per_call']:.1f} µs, oauth "
            f"{result['oauth_cpu_us_per_call']:.1f} µs CPU/call; oauth added (median of pairs) "
            f"{result['added_cpu_us_per_call']:+.1f} µs, over the subscribed key "
            f"{result['added_vs_subscribed_cpu_us_per_call']:+.1f} µs"
        )
    return results


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def _median_added(base: list[float], other: list[float]) -> float:
    return _median([o - b for b, o in zip(base, other, strict=True)])


def _open_loop(target: Target, fleet: Fleet, d: Durations) -> dict[str, Any]:
    with alone(fleet, target):
        meter = _CpuMeter(target, fleet)
        result = asyncio.run(rate_run(target.endpoint, d.rate_rps, d.rate_s))
        cpu = meter.per_call(result.requests, d.rate_s)
    return {
        "mode": "open loop (asyncio client)",
        "target": target.name,
        "rps": result.achieved_rps,
        "requests": result.requests,
        "errors": result.errors,
        **stats(result.latencies_us),
        **cpu,
    }


def tools_call_rate(
    fleet: Fleet,
    d: Durations,
    say: Say,
    max_rps: dict[str, float],
    names: Collection[str] | None = None,
) -> dict[str, Any]:
    """Scenario 1b: tools/call at `rate_rps` from an open-loop asyncio client (no coordinated
    omission; ~0.7 ms of Python client is in every number, hence "added" = gateway minus direct).
    A target whose closed-loop maximum is below 1.2x the rate is skipped (it cannot keep up; its
    latency would be queueing, not overhead). Paced wrk is not used here: its connections fall
    into lockstep and arrive in bursts, which measures burst queueing, not overhead. `names`:
    only these targets."""
    points: list[dict[str, Any]] = []
    for target in fleet.targets.values():
        if names is not None and target.name not in names:
            continue
        ceiling = max_rps.get(target.name, 0.0)
        if ceiling < d.rate_rps * 1.2:
            reason = f"saturates at {ceiling:.0f} req/s (closed loop)"
            points.append({"mode": "-", "target": target.name, "skipped": reason})
            say(f"  rate {d.rate_rps:.0f}/s {target.name:>12} skipped: max {ceiling:.0f} req/s")
            continue
        for run in (_open_loop,):
            point = run(target, fleet, d)
            points.append(point)
            say(
                f"  rate {d.rate_rps:.0f}/s {target.name:>12} {point['mode']:<28} "
                f"{point['rps']:>7.1f} req/s p50 {point['p50_us'] / 1000:.3f} ms "
                f"p99 {point['p99_us'] / 1000:.3f} ms errors {point['errors']}"
            )
    base = {p["mode"]: p for p in points if p["target"] == "direct" and "p50_us" in p}
    for point in points:
        reference = base.get(point["mode"])
        if reference is not None and point is not reference and "p50_us" in point:
            point["added_p50_us"] = round(point["p50_us"] - reference["p50_us"], 1)
            point["added_p99_us"] = round(point["p99_us"] - reference["p99_us"], 1)
    _policy_cost(points)
    _edge_cost(points)
    _oauth_cost(points)
    return {"points": points}


def _count_tools(endpoint: Endpoint) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        async with aiohttp.ClientSession() as http:
            sid = await initialize(http, endpoint) if endpoint.stateful else None
            body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            async with http.post(endpoint.url, data=body, headers=endpoint.headers(sid)) as r:
                raw = await r.read()
                sse = r.content_type == "text/event-stream"
            data = raw
            if sse:  # the JSON-RPC answer is the last `data:` line
                data = [ln for ln in raw.splitlines() if ln.startswith(b"data:")][-1][5:]
            try:
                message = orjson.loads(data)
                return len(message["result"]["tools"]), len(raw)
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise RuntimeError(f"{endpoint.name}: tools/list answered {raw[:300]!r}") from exc

    return asyncio.run(go())


def tools_list(fleet: Fleet, d: Durations, say: Say) -> dict[str, Any]:
    """Scenario 2: tools/list over every upstream entry (gateways) vs one upstream (direct)."""
    points = []
    for target in fleet.targets.values():
        if target.calls_only:
            continue
        with alone(fleet, target):
            tools, size = _count_tools(target.endpoint)
        for connections in d.list_concurrency:
            point = _measured_wrk(
                target,
                fleet,
                method="tools/list",
                connections=connections,
                seconds=d.run_s,
                warmup_s=d.warmup_s,
            )
            point.update(tools=tools, response_bytes=size)
            points.append(point)
            say(
                f"  tools/list {target.name:>12} c={connections:<3} {tools:>4} tools "
                f"{point['rps']:>8.1f} req/s p50 {point['p50_us'] / 1000:.3f} ms "
                f"p99 {point['p99_us'] / 1000:.3f} ms errors {point['errors']}"
            )
    return {"points": points}


def _grow_sessions(target: Target, count: int) -> tuple[int, int, list[str], float]:
    endpoint = target.endpoint
    warm = asyncio.run(open_sessions(endpoint, 50))
    time.sleep(1.0)
    before = rss_kb(target.proc.pid)
    started = time.perf_counter()
    opened = asyncio.run(open_sessions(endpoint, count))
    elapsed = time.perf_counter() - started
    time.sleep(1.0)
    after = rss_kb(target.proc.pid)
    asyncio.run(close_sessions(endpoint, warm + opened))
    return before, after, opened, elapsed


def idle_sessions(fleet: Fleet, count: int, say: Say) -> dict[str, Any]:
    """Scenario 3: RSS growth per idle initialized session, after a warm-up of 50 sessions;
    every session is deleted afterwards."""
    points = []
    for target in fleet.targets.values():
        if target.kind != "gateway" or target.calls_only:
            continue
        with alone(fleet, target):
            before, after, opened, elapsed = _grow_sessions(target, count)
        point = {
            "target": target.name,
            "sessions": len(opened),
            "rss_before_kb": before,
            "rss_after_kb": after,
            "kb_per_session": round((after - before) / max(len(opened), 1), 2),
            "sessions_per_s": round(len(opened) / elapsed, 1),
        }
        points.append(point)
        say(
            f"  sessions {target.name:>12} {len(opened)} sessions: RSS {before} -> {after} KiB = "
            f"{point['kb_per_session']} KiB/session ({point['sessions_per_s']} sessions/s)"
        )
    return {"points": points}
