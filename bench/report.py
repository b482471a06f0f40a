"""Result files: one JSON per scenario (`<date>-<scenario>.json`) and the `latest.md` summary."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["governed", "markdown", "paired", "write_json", "write_standalone"]


def write_json(outdir: Path, date: str, scenario: str, document: dict[str, Any]) -> Path:
    path = outdir / f"{date}-{scenario}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path


def write_standalone(
    outdir: Path, scenario: str, machine: dict[str, Any], result: dict[str, Any], name: str
) -> tuple[Path, Path]:
    """A scenario run on its own (`python -m bench.policy`, `bench.governance`): its JSON and
    `<outdir>/<name>.md`; `result["setup"]` goes into both."""
    date = datetime.date.today().isoformat()
    setup = result.pop("setup", {})
    outdir.mkdir(parents=True, exist_ok=True)
    document = {"scenario": scenario, "date": date, "machine": machine, "setup": setup, **result}
    path = write_json(outdir, date, scenario, document)
    summary = outdir / f"{name}.md"
    summary.write_text(markdown(date, machine, setup, {scenario: result}, []))
    return path, summary


def _ms(value: Any) -> str:
    return f"{value / 1000:.3f}" if isinstance(value, int | float) else "-"


def _num(value: Any, digits: int = 0) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:,.{digits}f}"


def _signed(value: Any) -> str:
    return f"{value:+,.2f}" if isinstance(value, int | float) else "-"


def _machine(machine: dict[str, Any]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    return lines


def _policy_cost(points: list[dict[str, Any]]) -> list[str]:
    """giru minus giru-nopolicy (GIRU_POLICY__ENABLED=false): the OPA decision per call."""
    rows = [p for p in points if "policy_added_p50_us" in p]
    if not rows:
        return []
    lines = [
        "",
        "Added by the OPA decision (giru minus giru-nopolicy; gateway CPU is the process tree, "
        "OPA's managed child included):",
        "",
        "| conc. | added p50 ms | added p99 ms | added gateway CPU µs/call "
        "| of which OPA µs/call |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in rows:
        lines.append(
            f"| {p.get('concurrency', '-')} | {_ms(p['policy_added_p50_us'])} "
            f"| {_ms(p['policy_added_p99_us'])} | {_num(p.get('policy_added_cpu_us_per_call'))} "
            f"| {_num(p.get('opa_cpu_us_per_call'))} |"
        )
    return lines


def _edge_cost(points: list[dict[str, Any]]) -> list[str]:
    """The Envoy targets beside giru direct, "added" = through Envoy minus giru direct."""
    bases = {p["edge_vs"] for p in points if "edge_added_p50_us" in p}
    if not bases:
        return []
    rows = [p for p in points if "p50_us" in p and (p["target"] in bases or "edge_vs" in p)]
    lines = [
        "",
        "Envoy at the edge: giru direct vs the same giru process through Envoy (giru-envoy: "
        "ext_authz asked per request, answered by giru; giru-envoy-noauthz: no edge check; "
        "giru-envoy-check: Envoy's own check, a Lua filter fed over RDS). "
        "**added = through Envoy minus giru direct, same concurrency, same run** (not minus the "
        "direct upstream); added CPU = (giru + Envoy) minus giru direct:",
        "",
        "| target | conc. / mode | req/s | x giru | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| giru CPU µs/call | Envoy CPU µs/call | added CPU µs/call | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in rows:
        ratio = p.get("throughput_vs_giru")
        lines.append(
            f"| {p['target']} | {p.get('concurrency', p.get('mode', '-'))} | {_num(p['rps'])} "
            f"| {f'{ratio:.3f}' if ratio is not None else '-'} "
            f"| {_ms(p['p50_us'])} | {_ms(p['p99_us'])} | {_ms(p.get('edge_added_p50_us'))} "
            f"| {_ms(p.get('edge_added_p99_us'))} | {_num(p.get('gateway_cpu_us_per_call'))} "
            f"| {_num(p.get('envoy_cpu_us_per_call'))} "
            f"| {_num(p.get('edge_added_cpu_us_per_call'))} | {p['errors']} |"
        )
    return lines


def _oauth_cost(points: list[dict[str, Any]]) -> list[str]:
    """giru-oauth beside giru: the same process, a person's access token instead of an API key."""
    rows = [p for p in points if "oauth_added_p50_us" in p]
    if not rows:
        return []
    lines = [
        "",
        "An OAuth access token next to an API key (giru-oauth: the same giru process and "
        "tools/call, `Authorization: Bearer <ES256 JWT>` naming a person in a subscribed group, "
        "verified once then cached by SHA-256 until exp; **added = giru-oauth minus giru**, same "
        "concurrency, same run; issue 13's budget: 30 µs of CPU):",
        "",
        "| conc. / mode | api key CPU µs/call | oauth CPU µs/call | added CPU µs/call "
        "| added p50 ms | added p99 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for p in rows:
        cpu = p.get("gateway_cpu_us_per_call")
        added = p.get("oauth_added_cpu_us_per_call")
        key_cpu = cpu - added if isinstance(cpu, int | float) and added is not None else None
        lines.append(
            f"| {p.get('concurrency', p.get('mode', '-'))} | {_num(key_cpu)} | {_num(cpu)} "
            f"| {_num(added, 1)} | {_ms(p['oauth_added_p50_us'])} "
            f"| {_ms(p['oauth_added_p99_us'])} |"
        )
    return lines


def _oauth_rounds(rounds: list[dict[str, Any]]) -> list[str]:
    """giru, giru-key-sub and giru-oauth in alternating rounds: issue 13's 30 µs budget."""
    if not rounds:
        return []
    lines = [
        "",
        "The same comparison in alternating rounds (giru, giru-key-sub, giru-oauth, … on the "
        "same process; giru-key-sub: an API key granted s00 by a Subscription, as the person "
        "is; CPU µs/call per round; **added = median of the paired differences**):",
        "",
        "| conc. | rounds x s | api key | subscribed key | oauth | oauth added over api key "
        "| over subscribed key | rounds (key / sub / oauth) |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rounds:
        series = " / ".join(
            ", ".join(f"{v:g}" for v in r.get(key, []))
            for key in ("api_key_rounds", "subscribed_key_rounds", "oauth_rounds")
        )
        lines.append(
            f"| {r['concurrency']} | {r['rounds']} x {r['seconds_per_round']:g} "
            f"| {_num(r['api_key_cpu_us_per_call'], 1)} "
            f"| {_num(r.get('subscribed_key_cpu_us_per_call'), 1)} "
            f"| {_num(r['oauth_cpu_us_per_call'], 1)} | {_num(r['added_cpu_us_per_call'], 1)} "
            f"| {_num(r.get('added_vs_subscribed_cpu_us_per_call'), 1)} | {series} |"
        )
    return lines


def _tools_call(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | conc. | req/s | x direct | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| gateway CPU µs/call | of which OPA | Envoy CPU µs/call | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        ratio = p.get("throughput_vs_direct")
        lines.append(
            f"| {p['target']} | {p['concurrency']} | {_num(p['rps'])} "
            f"| {f'{ratio:.3f}' if ratio is not None else '-'} "
            f"| {_ms(p['p50_us'])} | {_ms(p['p99_us'])} | {_ms(p.get('added_p50_us'))} "
            f"| {_ms(p.get('added_p99_us'))} | {_num(p.get('gateway_cpu_us_per_call'))} "
            f"| {_num(p.get('opa_cpu_us_per_call'))} | {_num(p.get('envoy_cpu_us_per_call'))} "
            f"| {p['errors']} |"
        )
    return lines + _policy_cost(points) + _edge_cost(points) + _oauth_cost(points)


def _rate(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | mode | achieved req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| gateway CPU µs/call | of which OPA | Envoy CPU µs/call | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        if "skipped" in p:
            lines.append(f"| {p['target']} | skipped: {p['skipped']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {p['target']} | {p['mode']} | {_num(p['rps'])} | {_ms(p['p50_us'])} "
            f"| {_ms(p['p99_us'])} | {_ms(p.get('added_p50_us'))} | {_ms(p.get('added_p99_us'))} "
            f"| {_num(p.get('gateway_cpu_us_per_call'))} | {_num(p.get('opa_cpu_us_per_call'))} "
            f"| {_num(p.get('envoy_cpu_us_per_call'))} | {p['errors']} |"
        )
    return lines + _policy_cost(points) + _edge_cost(points) + _oauth_cost(points)


def _tools_list(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | tools | response KiB | conc. | req/s | p50 ms | p99 ms "
        "| gateway CPU µs/call | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['target']} | {p['tools']} | {_num(p['response_bytes'] / 1024, 1)} "
            f"| {p['concurrency']} | {_num(p['rps'])} | {_ms(p['p50_us'])} | {_ms(p['p99_us'])} "
            f"| {_num(p.get('gateway_cpu_us_per_call'))} | {p['errors']} |"
        )
    return lines


def _sessions(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | sessions | RSS before KiB | RSS after KiB | KiB/session | sessions/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['target']} | {p['sessions']} | {_num(p['rss_before_kb'])} "
            f"| {_num(p['rss_after_kb'])} | {p['kb_per_session']:.2f} "
            f"| {_num(p['sessions_per_s'], 1)} |"
        )
    return lines


def _policy(points: list[dict[str, Any]]) -> list[str]:
    decisions = [p for p in points if "transport" in p]
    lists = [p for p in points if "mode" in p]
    goals = [p for p in points if "target" in p]
    lines = _policy_targets(goals) if goals else []
    lines += [
        "| OPA on | input | path | bytes | conc. | decisions/s | p50 µs | p90 µs | p99 µs | max µs "
        "| Giru CPU µs/decision | OPA CPU µs/decision | > 250 ms | outcomes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in decisions:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(p.get("outcomes", {}).items()))
        lines.append(
            f"| {p['transport']} | {p['input']} | {p.get('path', '-')} "
            f"| {_num(p.get('input_bytes'))} "
            f"| {p['concurrency']} | {_num(p['decisions_per_s'])} | {_num(p['p50_us'], 1)} "
            f"| {_num(p['p90_us'], 1)} | {_num(p['p99_us'], 1)} | {_num(p['max_us'], 1)} "
            f"| {_num(p['giru_cpu_us_per_decision'], 1)} "
            f"| {_num(p['opa_cpu_us_per_decision'], 1)} | {_num(p.get('over_250ms'))} "
            f"| {outcomes} |"
        )
    return lines + (_visibility(lists) if lists else [])


def _policy_targets(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "Issue 15's targets beside this run (before = the code before the change, after = now; "
        "same OPA, same run):",
        "",
        "| what | issue's figure | target | before | after |",
        "|---|---|---|---:|---:|",
    ]
    for row in rows:
        before, after = row.get("before"), row.get("after")
        lines.append(
            f"| {row['target']} | {row['issue_today']} | {row['goal']} "
            f"| {'-' if before is None else before} | {'-' if after is None else after} |"
        )
    return [*lines, ""]


def _lists_alone(points: list[dict[str, Any]]) -> list[str]:
    goals = [p for p in points if "target" in p]
    lists = [p for p in points if "mode" in p]
    return (_policy_targets(goals) if goals else []) + _visibility(lists)


def _visibility(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "tools/list visibility (bench/visibility.py: a change, then the lists):",
        "",
        "| input | path | mode | conc. | lists | changes | p50 µs | p99 µs | max µs "
        "| Giru CPU µs/list | OPA CPU µs/list | > 250 ms | unanswered |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['input']} | {p['path']} | {p['mode']} | {p['concurrency']} | {p['lists']} "
            f"| {p['changes']} | {_num(p['p50_us'], 1)} | {_num(p['p99_us'], 1)} "
            f"| {_num(p['max_us'], 1)} | {_num(p['giru_cpu_us_per_list'], 1)} "
            f"| {_num(p['opa_cpu_us_per_list'], 1)} | {p['over_250ms']} | {p['unavailable']} |"
        )
    return lines


def _governance(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| variant | conc. | CPU µs/call | added CPU µs/call | wall µs/call "
        "| redis-server µs/call | PostgreSQL µs/call | store inserts | rows stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['variant']} | {p['concurrency']} | {_num(p['cpu_us_per_call'], 1)} "
            f"| {_num(p.get('added_cpu_us_per_call'), 1)} | {_num(p['wall_us_per_call'], 1)} "
            f"| {_num(p.get('redis_cpu_us_per_call'), 1)} "
            f"| {_num(p.get('postgres_cpu_us_per_call'), 1)} | {_num(p.get('store_inserts'))} "
            f"| {_num(p.get('rows_stored'))} |"
        )
    return lines


def paired(points: list[dict[str, Any]]) -> list[str]:
    """Paired comparisons (bench.pairs): per side its CPU per call and, beside the baseline's,
    the median of the per-round differences with its 95 % bootstrap interval."""
    lines = [
        "| where | conc. | side | CPU µs/call (median round) | Q1 to Q3 | added CPU µs/call "
        "(median of paired differences) | 95 % CI | rounds x calls | load avg before → after |",
        "|---|---:|---|---:|---|---:|---|---|---|",
    ]
    for p in points:
        load = (
            f"{', '.join(f'{v:g}' for v in p['loadavg_before'])} → "
            f"{', '.join(f'{v:g}' for v in p['loadavg_after'])}"
        )
        for name, side in p["sides"].items():
            low_high = side.get("added_ci95")
            q1, q3 = side["cpu_us_per_call_q1_q3"]
            lines.append(
                f"| {p.get('where', '-')} | {p.get('concurrency', '-')} | {name} "
                f"| {_num(side['cpu_us_per_call'], 2)} | {q1:,.1f} to {q3:,.1f} "
                f"| {_signed(side.get('added_cpu_us_per_call'))} "
                f"| {f'{low_high[0]:+.2f} … {low_high[1]:+.2f}' if low_high else '-'} "
                f"| {p['rounds']} x {p['calls_per_block']} | {load} |"
            )
        for name, difference in p.get("differences", {}).items():
            low, high = difference["added_ci95"]
            lines.append(
                f"| {p.get('where', '-')} | {p.get('concurrency', '-')} | {name} | | "
                f"| {_signed(difference['added_cpu_us_per_call'])} | {low:+.2f} … {high:+.2f} "
                f"| {p['rounds']} x {p['calls_per_block']} | {load} |"
            )
    first = [p["first_use_cpu_us"] for p in points if "first_use_cpu_us" in p]
    if first:
        lines += ["", f"A token's first use (ES256 signature verified, claims): {first[0]:,.1f} µs"]
    return lines


def _startup(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| command | package | wall ms (median) | min | max | CPU ms (median) "
        "| to request: wall ms | CPU ms (medians) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        request = [p.get(f"to_request_{unit}_ms_median") for unit in ("wall", "cpu")]
        lines.append(
            f"| {p['command']} | {p['tree']} | {_num(p['wall_ms_median'])} "
            f"| {_num(p['wall_ms_min'])} | {_num(p['wall_ms_max'])} "
            f"| {_num(p['cpu_ms_median'])} "
            + "".join(f"| {'-' if v is None else _num(v)} " for v in request)
            + "|"
        )
    return lines


def _profile(profile: dict[str, Any], top: int = 20) -> list[str]:
    lines = [
        "## Giru profile under c=16 tools/call (py-spy, self time)",
        "",
        f"{profile['samples']} samples; raw collapsed stacks: `{profile.get('raw', '')}`",
        "",
        "| share | function |",
        "|---:|---|",
    ]
    lines += [f"| {row['share']:.1%} | `{row['function']}` |" for row in profile["self"][:top]]
    return [*lines, ""]


def _met(met: Any) -> str:
    return "-" if met is None else ("yes" if met else "no")


def _load(load: dict[str, Any]) -> str:
    before, after = (", ".join(f"{v:g}" for v in load.get(k, [])) for k in ("before", "after"))
    return f"{before} → {after}"


def governed(result: dict[str, Any]) -> list[str]:
    """The `governed` scenario (bench.governed): issue 15's targets beside what this run
    measured, then its closed-loop and open-loop tables."""
    lines = [
        "## Issue 15's targets: the governed tools/call (bench.governed)",
        "",
        f"Mode: {result.get('mode', '-')}; load average (1, 5, 15 min) before → after the "
        f"governed points: {_load(result.get('load', {}))}. **today** is the issue's figure; "
        "**measured** is this run; a row not measured in this run says why.",
        "",
        "| what | issue's today | target | measured (this run) | met? |",
        "|---|---|---|---|---|",
    ]
    for row in result.get("targets", []):
        lines.append(
            f"| {row['what']} | {row['today']} | {row['target']} | {row['measured']} "
            f"| {_met(row['met'])} |"
        )
    lines += ["", "Governed (giru-limits) beside what it is compared with, closed loop (wrk):", ""]
    lines += _tools_call(result.get("points", []))
    if result.get("rate"):
        lines += ["", "Open loop, governed beside direct:", "", *_rate(result["rate"])]
    return [*lines, ""]


_TABLES = {
    "tools-call": ("1. tools/call, closed loop (wrk)", _tools_call),
    "tools-call-rate": ("1b. tools/call at about 1000 req/s", _rate),
    "tools-list": ("2. tools/list over all upstream entries (wrk)", _tools_list),
    "idle-sessions": ("3. RSS per idle legacy session", _sessions),
    "policy-decision": ("4. OPA policy decision (PolicyEngine.decide on uvloop)", _policy),
    "tools-list-visibility": ("4b. tools/list visibility (bench.visibility)", _lists_alone),
    "governance": ("5. What limits, quotas and usage metering add (CallGate.run)", _governance),
    "identity": ("5b. An OAuth access token next to an API key (bench.identity)", paired),
    "cli-startup": ("6. `giru` command start-up, start to exit (bench.startup)", _startup),
}


def markdown(
    date: str,
    machine: dict[str, Any],
    setup: dict[str, Any],
    results: dict[str, dict[str, Any]],
    notes: list[str],
) -> str:
    lines = [f"# Giru benchmarks — {date}", ""]
    if "governed" in results:  # the headline, first
        lines += governed(results["governed"])
    lines += ["## Machine", "", *_machine(machine), ""]
    lines += ["## Setup", ""]
    lines += [f"- **{key}**: {value}" for key, value in setup.items()]
    lines.append("")
    for scenario, (title, table) in _TABLES.items():
        result = results.get(scenario)
        if result is None:
            continue
        lines += [f"## {title}", "", *table(result["points"])]
        lines += [*_oauth_rounds(result.get("oauth_rounds") or []), ""]
    profile = results.get("profile-giru", {}).get("profile")
    if profile and "self" in profile:
        lines += _profile(profile)
    if notes:
        lines += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)
