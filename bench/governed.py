"""The `governed` scenario, the headline of `make bench` (issue 15): a governed tools/call, and
issue 15's targets beside what the run measured.

A governed call is what the fleet's `giru-limits` target sends: the `giru` process (policy on,
every tools/call decided with the shipped packs as `giru run` ships them: no `kind: Policy`, so
`core`; by its managed OPA child, or from the fast path's cache when the arguments cannot change
the decision, giru.policy.fast_path), an API key whose client has a Subscription with a rate
limit, a per-tool rate and day/month quotas (all far above what the bench sends), and the
durable usage and audit records every call writes before it is answered. It is measured closed
loop at c=16 (the concurrency of the issue's targets) beside the targets the issue compares it
with (direct, giru-nopolicy, giru and the two Envoy targets, ContextForge when it runs), then
open loop at the rate of scenario 1b beside direct. The measuring is `bench.scenarios`'s; this
module picks the targets and reads the issue's targets off the run's results (`targets`),
including the policy-decision scenario's decision and visibility points. A row whose
measurement is not in the run says why instead of a number.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import policy, visibility
from bench.fleet import EDGE_WORKER, ENVOY, ENVOY_CHECK, ENVOY_NOAUTHZ, NOPOLICY, Fleet
from bench.scenarios import Durations, closed_loop, tools_call_rate

__all__ = ["CONCURRENCY", "GOVERNED", "SCENARIO", "Goal", "run", "targets"]

SCENARIO = "governed"
GOVERNED = "giru-limits"
CONCURRENCY = 16
CONTEXTFORGE = "contextforge"
_COMPARED = (
    "direct",
    GOVERNED,
    NOPOLICY,
    EDGE_WORKER,
    ENVOY,
    ENVOY_NOAUTHZ,
    ENVOY_CHECK,
    CONTEXTFORGE,
)
Say = Callable[[str], None]
Results = dict[str, dict[str, Any]]


def run(fleet: Fleet, d: Durations, say: Say) -> dict[str, Any]:
    """`{"points": closed loop at c=16, "rate": open loop, "load": before and after}`."""
    load_before = os.getloadavg()
    names = [name for name in _COMPARED if name in fleet.targets]
    points = closed_loop(fleet, d, say, (CONCURRENCY,), names)
    ceiling = {p["target"]: p["rps"] for p in points}
    rate = tools_call_rate(fleet, d, say, ceiling, names=("direct", GOVERNED))["points"]
    return {
        "points": points,
        "rate": rate,
        "load": {"before": _rounded(load_before), "after": _rounded(os.getloadavg())},
    }


def _rounded(load: tuple[float, float, float]) -> list[float]:
    return [round(v, 2) for v in load]


@dataclass(frozen=True)
class Goal:
    """One row of issue 15's targets table: `met` is None when the run did not measure it."""

    what: str
    today: str
    target: str
    measured: str
    met: bool | None


def _point(results: Results, target: str) -> dict[str, Any] | None:
    for p in results.get(SCENARIO, {}).get("points", []):
        if p["target"] == target and p.get("concurrency") == CONCURRENCY and "p50_us" in p:
            return dict(p)
    return None


def _absent(results: Results, target: str) -> str:
    if SCENARIO not in results:
        return f"not measured: scenario {SCENARIO} not in this run"
    return f"not measured: no {target} target in this run (see the notes)"


def _cpu(results: Results, what: str, today: str, goal: float, target: str) -> Goal:
    p = _point(results, target)
    label = f"≤ {goal:g} µs"
    if p is None or p.get("gateway_cpu_us_per_call") is None:
        return Goal(what, today, label, _absent(results, target), None)
    cpu = p["gateway_cpu_us_per_call"]
    opa = p.get("opa_cpu_us_per_call")
    detail = f"{cpu:,.0f} µs" + (f" (of which OPA {opa:,.0f})" if opa is not None else "")
    return Goal(what, today, label, f"{detail} at {p['rps']:,.0f} req/s", cpu <= goal)


def _open_loop(results: Results) -> Goal:
    what = "added latency at 1,000 req/s open loop, governed"
    label = "p50 ≤ 0.3 ms, p99 ≤ 1 ms"
    today = "— (saturates)"
    rate = [p for p in results.get(SCENARIO, {}).get("rate", []) if p["target"] == GOVERNED]
    if not rate:
        return Goal(what, today, label, _absent(results, GOVERNED), None)
    p = rate[0]
    if "skipped" in p:
        return Goal(what, today, label, f"not run at that rate: {p['skipped']}", False)
    if "added_p50_us" not in p:
        return Goal(what, today, label, "not measured: no direct point at that rate", None)
    met = p["added_p50_us"] <= 300 and p["added_p99_us"] <= 1000
    measured = (
        f"p50 +{p['added_p50_us'] / 1000:.3f} ms, p99 +{p['added_p99_us'] / 1000:.3f} ms "
        f"at {p['rps']:,.0f} req/s"
    )
    return Goal(what, today, label, measured, met)


def _decision(results: Results) -> Goal:
    what = "policy decision, amortized CPU per call (shipped packs, arguments that need checking)"
    today, label = "548 µs", "≤ 60 µs"
    points = results.get(policy.SCENARIO, {}).get("points")
    if not points:
        return Goal(what, today, label, f"not measured: scenario {policy.SCENARIO} not run", None)
    cpu = {
        name: policy.decision_cpu(points, label_, "fast")
        for name, label_ in (("PCI", "PCI, 16-digit PAN"), ("PHI", "PHI (hipaa)"))
    }
    found = {k: v for k, v in cpu.items() if v is not None}
    if not found:
        return Goal(what, today, label, "not measured: no c=16 unix-socket point", None)
    measured = " / ".join(f"{k} {v:,.1f} µs" for k, v in found.items())
    measured += " (Giru + OPA per decision, c=16, bench.policy fast path)"
    governed = _point(results, EDGE_WORKER)
    if governed is not None and "policy_added_cpu_us_per_call" in governed:
        added = governed["policy_added_cpu_us_per_call"]
        measured += f"; in the gateway, giru minus giru-nopolicy: {added:,.0f} µs"
    return Goal(what, today, label, measured, max(found.values()) <= 60)


def _lists(results: Results) -> Goal:
    what = "tools/list visibility, 1,000 tools, first call after a change"
    today, label = "219 ms", "≤ 5 ms; 0 timeouts at 64 concurrent"
    points = results.get(policy.SCENARIO, {}).get("points")
    if not points:
        return Goal(what, today, label, f"not measured: scenario {policy.SCENARIO} not run", None)
    firsts = {
        change: visibility.list_point(points, 1000, 1, False, change)
        for change in (visibility.BUNDLE, visibility.CONFIG, visibility.CATALOG)
    }
    crowd = visibility.list_point(points, 1000, 64, False)
    if not all(firsts.values()) or not crowd:
        return Goal(what, today, label, "not measured: the 1,000-tool points are missing", None)
    p50 = {change: p["p50_us"] / 1000 for change, p in firsts.items()}
    slow, unanswered = crowd["over_250ms"], crowd["unavailable"]
    measured = "p50 after a " + " / ".join(f"{c} change {v:.2f} ms" for c, v in p50.items())
    measured += (
        f"; 64 concurrent after a bundle change: {slow} of {crowd['lists']} over 250 ms, "
        f"{unanswered} unanswered"
    )
    met = max(p50.values()) <= 5 and slow == 0 and unanswered == 0
    return Goal(what, today, label, measured, met)


def _edge(results: Results) -> Goal:
    """The edge's credential check (giru-envoy-check; ext_authz when that target is absent)
    minus Envoy without any check, giru + Envoy CPU, same run; the figures vs giru direct
    beside it. Closed-loop points, not paired rounds: bench.edgecheck pairs them."""
    what = "ext_authz (or what replaces it) at the edge, added CPU per call, c=16"
    today, label = "930-1,460 µs", "≤ 100 µs"
    bare = _point(results, ENVOY_NOAUTHZ)
    check = _point(results, ENVOY_CHECK)
    name = ENVOY_CHECK if check is not None else ENVOY
    p = check if check is not None else _point(results, ENVOY)
    if p is None or "edge_added_cpu_us_per_call" not in p:
        return Goal(what, today, label, _absent(results, name), None)
    if bare is None or "edge_added_cpu_us_per_call" not in bare:
        return Goal(what, today, label, _absent(results, ENVOY_NOAUTHZ), None)
    kind = "the edge's own check" if check is not None else "ext_authz"
    added = p["edge_added_cpu_us_per_call"] - bare["edge_added_cpu_us_per_call"]
    measured = f"{added:,.0f} µs ({kind}: giru + Envoy minus giru + Envoy without a check)"
    beside = [f"{kind} vs giru direct {p['edge_added_cpu_us_per_call']:,.0f} µs"]
    authz = _point(results, ENVOY)
    if check is not None and authz is not None and "edge_added_cpu_us_per_call" in authz:
        over = authz["edge_added_cpu_us_per_call"] - bare["edge_added_cpu_us_per_call"]
        beside.append(f"ext_authz {over:,.0f} µs")
    beside.append(
        f"Envoy without a check vs giru direct {bare['edge_added_cpu_us_per_call']:,.0f} µs"
    )
    return Goal(what, today, label, measured + "; " + "; ".join(beside), added <= 100)


def _ratio(results: Results, versus: str, what: str, today: str, goal: float) -> Goal:
    label = f"≥ {goal:g}x"
    governed, other = _point(results, GOVERNED), _point(results, versus)
    if governed is None:
        return Goal(what, today, label, _absent(results, GOVERNED), None)
    if other is None:
        return Goal(what, today, label, _absent(results, versus), None)
    ratio = governed["rps"] / other["rps"]
    shown = f"{ratio:.3f}" if ratio < 10 else f"{ratio:,.0f}"
    measured = f"{shown}x ({governed['rps']:,.0f} / {other['rps']:,.0f} req/s)"
    return Goal(what, today, label, measured, ratio >= goal)


def targets(results: Results) -> list[dict[str, Any]]:
    """Issue 15's targets table, each row beside today's figure and what `results` measured."""
    goals = [
        _cpu(results, "governed tools/call, Giru CPU incl. OPA, c=16", "1,166 µs", 250, GOVERNED),
        _cpu(results, "pass-through (policy off, records on), c=16", "506 µs", 120, NOPOLICY),
        _open_loop(results),
        _decision(results),
        _lists(results),
        _edge(results),
        _ratio(results, "direct", "governed throughput vs the bare upstream, c=16", "0.016x", 0.15),
        _ratio(
            results,
            CONTEXTFORGE,
            "governed throughput vs ContextForge 1.0.7, c=16",
            "≈ 10-14x",
            100,
        ),
        Goal(
            "governed throughput vs agentgateway (ungoverned), c=16, same run",
            "0.08x",
            "≥ 0.5x",
            "not measured: agentgateway is not part of bench/ (the issue's figure is from a "
            "separate run)",
            None,
        ),
    ]
    return [asdict(goal) for goal in goals]
