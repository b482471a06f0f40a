"""Policy replay: what a new bundle would have decided over recorded calls, without touching
production.

Each audited decision keeps its input without argument values (`details.input`, see
giru.policy.shapes). A replay rebuilds the inputs with placeholder arguments and has a
temporary OPA (`opa eval`, a process of its own over temporary files) decide every one twice:
with the active sources and bindings (the baseline), and with the candidate's files laid over
them (a later file replaces one at the same path; a changed default in a pack's `data.json`
replaces that key in every binding of the pack). The report counts the calls whose outcome
changes — newly denied, newly allowed, newly held for approval — by control, and lists them.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import structlog

from giru.errors import PolicyUnavailableError, ValidationError
from giru.policy.bundle import PolicySources
from giru.policy.shapes import replayed_input

__all__ = ["MAX_CALLS", "Recorded", "candidate_sources", "replay"]

_log = structlog.get_logger(__name__)

MAX_CALLS: Final = 50_000
_BATCH: Final = 500
_LISTED: Final = 100
_TIMEOUT_S: Final = 120.0
_QUERY: Final = "data.giru.replay.results"
_REPLAY_MODULE: Final = """package giru.replay

import data.giru.decision

results := [result |
	some call in input.calls
	result := decision.result with input as call
]
"""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One audited decision: who, what, how it ended, and its input without argument values."""

    event_id: str
    at: str
    actor: str
    server: str | None
    target: str | None
    outcome: str
    input: Mapping[str, Any]


def candidate_sources(
    baseline: PolicySources, files: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The candidate's modules and pack defaults: `files` (bundle path -> text: `*.rego`, and
    `<pack>/data.json`) laid over the baseline's.

    Raises:
        ValidationError: a path or a data file that is not what a policy directory holds.
    """
    modules = dict(baseline.modules)
    defaults = {pack: dict(data) for pack, data in baseline.defaults.items()}
    for path, text in files.items():
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or any(p.startswith(".") for p in parts):
            raise ValidationError(f"{path!r}: not a relative path inside the bundle")
        if path.endswith("_test.rego"):
            continue
        if path.endswith(".rego"):
            modules[path] = text
        elif len(parts) == 2 and parts[1] == "data.json":
            loaded = _json(path, text)
            if isinstance(loaded.get(parts[0]), dict):
                defaults[parts[0]] = loaded[parts[0]]
        else:
            raise ValidationError(f"{path!r}: only *.rego files and <pack>/data.json are read")
    return modules, defaults


def _json(path: str, text: str) -> dict[str, Any]:
    try:
        loaded = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ValidationError(f"{path}: not a JSON object")
    return loaded


def _candidate_bindings(
    bindings: Mapping[str, Any],
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    changed = copy.deepcopy(dict(bindings))
    for pack, values in new.items():
        before = old.get(pack, {})
        keys = [k for k, v in values.items() if before.get(k) != v]
        for binding in changed.values():
            data = binding.get("data", {})
            if pack in data:
                data[pack] = {**data[pack], **{k: copy.deepcopy(values[k]) for k in keys}}
    return changed


async def replay(
    opa: Path,
    baseline: PolicySources,
    bindings: Mapping[str, Any],
    files: Mapping[str, str],
    calls: Sequence[Recorded],
) -> dict[str, Any]:
    """The report of deciding `calls` with the baseline and with the candidate `files`.

    Raises:
        ValidationError: the candidate files are not a policy directory, or do not compile.
        PolicyUnavailableError: OPA failed or took too long.
    """
    started = time.perf_counter()
    modules, defaults = candidate_sources(baseline, files)
    candidate = _candidate_bindings(bindings, baseline.defaults, defaults)
    inputs = [replayed_input(call.input) for call in calls[:MAX_CALLS]]
    with tempfile.TemporaryDirectory(prefix="giru-replay-") as tmp:
        before_dir = _write(Path(tmp) / "baseline", baseline.modules, bindings, "baseline")
        after_dir = _write(Path(tmp) / "candidate", modules, candidate, "candidate")
        try:
            async with asyncio.TaskGroup() as tasks:  # the two OPAs run side by side
                before = tasks.create_task(_decide_all(opa, before_dir, inputs))
                after = tasks.create_task(_decide_candidate(opa, after_dir, inputs))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
    report = _report(
        calls[:MAX_CALLS], before.result(), after.result(), skipped=max(0, len(calls) - MAX_CALLS)
    )
    _log.info("policy_replayed", calls=len(inputs), seconds=round(time.perf_counter() - started, 3))
    return report


async def _decide_candidate(
    opa: Path, directory: Path, inputs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    try:
        return await _decide_all(opa, directory, inputs)
    except PolicyUnavailableError as exc:
        raise ValidationError(f"the candidate bundle failed: {exc.message}") from exc


def _write(
    directory: Path, modules: Mapping[str, str], bindings: Mapping[str, Any], name: str
) -> Path:
    for relative, text in modules.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (directory / "giru").mkdir(parents=True, exist_ok=True)
    (directory / "giru" / "replay.rego").write_text(_REPLAY_MODULE, encoding="utf-8")
    data = {"giru": {"revision": f"replay-{name}", "bindings": bindings}}
    (directory / "data.json").write_bytes(orjson.dumps(data))
    return directory


async def _decide_all(
    opa: Path, directory: Path, inputs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for start in range(0, len(inputs), _BATCH):
        batch = directory.parent / f"{directory.name}-input.json"
        batch.write_bytes(orjson.dumps({"calls": list(inputs[start : start + _BATCH])}))
        results += await _eval(opa, directory, batch)
    return results


async def _eval(opa: Path, directory: Path, batch: Path) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        str(opa),
        "eval",
        "--format",
        "json",
        "--data",
        str(directory),
        "--input",
        str(batch),
        _QUERY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            out, err = await process.communicate()
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise PolicyUnavailableError("the replay's OPA took too long") from exc
    if process.returncode != 0:
        detail = (err or out).decode("utf-8", "replace").replace(str(directory) + "/", "")
        raise PolicyUnavailableError(f"opa eval failed: {detail.strip()[:2000]}")
    try:
        value = orjson.loads(out)["result"][0]["expressions"][0]["value"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise PolicyUnavailableError("opa eval gave no decisions") from exc
    return [v if isinstance(v, dict) else {} for v in value]


def _fired(result: Mapping[str, Any], key: str) -> set[tuple[str, str]]:
    return {
        (str(r.get("pack", "")), str(r.get("control", "")))
        for r in result.get(key) or ()
        if isinstance(r, dict)
    }


def _report(
    calls: Sequence[Recorded],
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    *,
    skipped: int,
) -> dict[str, Any]:
    counts: dict[str, Counter[tuple[str, str]]] = {
        "newlyDenied": Counter(),
        "newlyAllowed": Counter(),
        "newlyHeld": Counter(),
    }
    totals: Counter[str] = Counter()
    changes: list[dict[str, Any]] = []
    unreproduced = 0
    for call, old, new in zip(calls, before, after, strict=True):
        was, now = old.get("allow") is True, new.get("allow") is True
        unreproduced += was != (call.outcome != "policy_denied")
        change, controls = _change(old, new, was, now)
        if change is None:
            continue
        totals[change] += 1
        counts[change].update(controls)
        if len(changes) < _LISTED:
            changes.append(_listed(call, change, controls))
    return {
        "calls": len(calls) + skipped,
        "replayed": len(calls),
        "skipped": skipped,
        "unreproduced": unreproduced,
        **{name: totals[name] for name in counts},
        "controls": _by_control(counts),
        "changes": changes,
    }


def _change(
    old: Mapping[str, Any], new: Mapping[str, Any], was: bool, now: bool
) -> tuple[str | None, set[tuple[str, str]]]:
    if was and not now:
        return "newlyDenied", _fired(new, "deny")
    if now and not was:
        return "newlyAllowed", _fired(old, "deny")
    held = _fired(new, "approve") - _fired(old, "approve")
    if now and held:
        return "newlyHeld", held
    return None, set()


def _listed(call: Recorded, change: str, controls: set[tuple[str, str]]) -> dict[str, Any]:
    return {
        "eventId": call.event_id,
        "at": call.at,
        "actor": call.actor,
        "server": call.server,
        "target": call.target,
        "change": change,
        "controls": [f"{pack}/{control}" for pack, control in sorted(controls)],
    }


def _by_control(counts: Mapping[str, Counter[tuple[str, str]]]) -> list[dict[str, Any]]:
    keys = sorted({key for counter in counts.values() for key in counter})
    return [
        {"pack": pack, "control": control, **{name: counts[name][pack, control] for name in counts}}
        for pack, control in keys
    ]
