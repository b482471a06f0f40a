"""`--profile`: sample the gateway with py-spy while wrk drives tools/call; summarize the stacks."""

from __future__ import annotations

import re
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.client import Endpoint
from bench.fleet import LOAD_CPUS, REPO, Target
from bench.wrk import run_wrk

__all__ = ["PY_SPY", "profile_target", "summarize"]

PY_SPY = REPO / ".tools" / "bench-tools" / "bin" / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """`func (path/to/pkg/mod.py:12)` -> `pkg/mod.py:func`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match['func']}"


def summarize(raw: Path, top: int = 30) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed (`raw`) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "share": round(n / total, 4)} for name, n in counter.most_common(top)
        ]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def profile_target(
    target: Target, session_id: str | None, seconds: int, outdir: Path, stem: str
) -> dict[str, Any]:
    """Record `seconds` of samples from the gateway under a c=16 tools/call load."""
    raw = outdir / f"{stem}-profile-{target.name}.txt"
    endpoint: Endpoint = target.endpoint
    load = threading.Thread(
        target=run_wrk,
        kwargs={
            "endpoint": endpoint,
            "connections": 16,
            "seconds": seconds + 2,
            "method": "tools/call",
            "session_id": session_id,
            "cpus": LOAD_CPUS,
        },
    )
    load.start()
    try:
        argv = [str(PY_SPY), "record", "--pid", str(target.proc.pid), "--duration", str(seconds)]
        argv += ["--rate", "200", "--format", "raw", "--nonblocking", "--output", str(raw)]
        subprocess.run(argv, capture_output=True, timeout=seconds + 60, check=True)
    finally:
        load.join()
    summary = summarize(raw)
    summary["raw"] = str(raw.relative_to(REPO)) if raw.is_relative_to(REPO) else str(raw)
    return summary
