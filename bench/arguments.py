"""`python -m bench.arguments [--ref REV] [--rounds R] [--calls N]`: what checking a tools/call's
`arguments` against the tool's `inputSchema` costs (`ArgumentsValidator.problem`, validators
compiled once as at catalog fetch) in commit REV's code (default: main) beside the work tree's,
in this one process, for a few tool schemas.

REV's `giru/catalog/arguments.py` is loaded from `git archive REV src` under another module
name. Before timing, both sides must give the same answer (None or the same refusal message)
for every case below, valid and not. Each round times every side on the same arguments in a
shuffled order (CPU time of this thread); the difference is the median of the per-round
differences with a bootstrap 95 % interval (bench.pairs.median_ci). An A/A pair (the work tree
twice) says what the method resolves. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from bench.pairs import paired, shuffled
from bench.refcode import ref_modules
from bench.upstream import build_tools
from giru.catalog import arguments as work_arguments

__all__ = ["main"]

_ZOD: Final[dict[str, Any]] = {  # what zod-to-json-schema makes (the TypeScript SDK)
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1, "description": "File to read"},
        "mode": {"type": "string", "enum": ["read", "write"], "default": "read"},
        "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "since": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    },
    "required": ["path"],
    "additionalProperties": False,
}
_FASTMCP: Final[dict[str, Any]] = {  # what FastMCP makes of a Python signature
    "properties": {
        "a": {"title": "A", "type": "integer"},
        "b": {"default": 1.5, "title": "B", "type": "number"},
    },
    "required": ["a"],
    "title": "addArguments",
    "type": "object",
}
_ONE_OF: Final[dict[str, Any]] = {  # beyond the quick check: jsonschema alone on both sides
    "type": "object",
    "properties": {"id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
    "required": ["id"],
}
WORKLOADS: Final[dict[str, tuple[dict[str, Any], Any]]] = {
    "echo (bench.upstream, the governed bench's call)": (
        build_tools(1)[0]["inputSchema"],
        {"text": "hello world"},
    ),
    "zod, 5 properties": (
        _ZOD,
        {"path": "/srv/data/report.csv", "mode": "read", "limit": 20, "tags": ["quarterly", "x"]},
    ),
    "fastmcp, 2 properties": (_FASTMCP, {"a": 2, "b": 3.5}),
    "refused: zod, extra property": (_ZOD, {"path": "/srv/x", "force": True}),
    "oneOf (no quick check)": (_ONE_OF, {"id": 7}),
}
_ALSO_COMPARED: Final[list[tuple[dict[str, Any], Any]]] = [
    (_ZOD, {}),
    (_ZOD, {"path": ""}),
    (_ZOD, {"path": "p", "limit": 0}),
    (_ZOD, {"path": "p", "limit": 1.5}),
    (_ZOD, {"path": "p", "tags": ["UPPER"]}),
    (_ZOD, {"path": "p", "mode": "append"}),
    (_ZOD, {"path": "p", "since": 3}),
    (_FASTMCP, {"a": True}),
    (_FASTMCP, {"a": 1.0, "b": None}),
    (_FASTMCP, [1]),
    (_ONE_OF, {"id": 1.5}),
]


def _problem(module: ModuleType, schema: dict[str, Any]) -> Callable[[Any], str | None]:
    validator = module.compile_arguments(schema)
    assert validator is not None, "the bench's schemas are valid JSON Schema"
    problem: Callable[[Any], str | None] = validator.problem
    return problem


def _same_answers(ref: ModuleType) -> int:
    cases = [*WORKLOADS.values(), *_ALSO_COMPARED]
    for schema, arguments in cases:
        old = _problem(ref, schema)(arguments)
        new = _problem(work_arguments, schema)(arguments)
        if old != new:
            raise SystemExit(f"different answers for {arguments!r}: {old!r} != {new!r}")
    return len(cases)


def _time(problem: Callable[[Any], str | None], arguments: Any, calls: int) -> float:
    started = time.thread_time_ns()
    for _ in range(calls):
        problem(arguments)
    return (time.thread_time_ns() - started) / calls / 1000


def _pair(ref: ModuleType, workload: str, rounds: int, calls: int) -> dict[str, Any]:
    schema, arguments = WORKLOADS[workload]
    sides = {
        "ref": _problem(ref, schema),
        "work tree": _problem(work_arguments, schema),
        "work tree again": _problem(work_arguments, schema),
    }
    for problem in sides.values():
        _time(problem, arguments, calls)  # warm up
    seen: dict[str, list[float]] = {name: [] for name in sides}
    for name in shuffled(sides, rounds, seed=7):
        seen[name].append(_time(sides[name], arguments, calls))

    def versus(a: str, b: str) -> dict[str, Any]:
        return paired(seen[a], seen[b])

    return {
        "us_per_call": {name: round(statistics.median(v), 2) for name, v in seen.items()},
        "work tree - ref": versus("work tree", "ref"),
        "work tree again - work tree": versus("work tree again", "work tree"),
    }


def run(ref: str, rounds: int, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-arguments-") as directory:
        (ref_module,) = ref_modules(ref, Path(directory), ("catalog.arguments",))
        compared = _same_answers(ref_module)
        load_before = os.getloadavg()
        pairs = {name: _pair(ref_module, name, rounds, calls) for name in WORKLOADS}
    return {
        "ref": ref,
        "same_answers": compared,
        "rounds": rounds,
        "calls_per_round": calls,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "workloads": pairs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.arguments", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=2000, help="calls per side per round")
    args = parser.parse_args(argv)
    result = run(args.ref, args.rounds, args.calls)
    print(f"same answers from {args.ref} and the work tree on {result['same_answers']} cases")
    for name, pair in result["workloads"].items():
        us = pair["us_per_call"]
        print(f"{name}: {args.ref} {us['ref']:.2f} µs, work tree {us['work tree']:.2f} µs per call")
        for key in ("work tree - ref", "work tree again - work tree"):
            low, high = pair[key]["ci95"]
            print(
                f"    {key:>28}: {pair[key]['median']:+8.2f} µs (95 % CI {low:+.2f} … {high:+.2f})"
            )
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}")


if __name__ == "__main__":
    main()
