"""`python -m bench.profiled ARGS...`: the `giru` command (`giru ARGS...`) with windows the
bench opens and closes by signal: SIGUSR1 starts one, SIGUSR2 ends it and writes the garbage
collector's work in it (collections and seconds per generation, from gc.callbacks) to
`$GIRU_BENCH_PROFILE_DIR/N.gc.json`, then a deterministic profile (cProfile) of the event-loop
thread over it to `N.prof` (N = 1, 2, ...; with GIRU_BENCH_CPROFILE=0 the profiler stays off and
the file is empty of calls), and the loop thread's CPU time in `Admission.decide` (which does not
suspend for a known credential) with the admissions counted. Worker threads (the store's, the
spools') are not profiled; the call counts are exact, the times inflated by the profiler's own
cost."""

from __future__ import annotations

import cProfile
import ctypes
import gc
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from giru.cli.main import app
from giru.proxy.admission import Admission

__all__ = ["main"]


def _name_threads() -> None:
    """Give each Python thread its name as the OS sees it (/proc comm, 15 bytes), so the bench
    can tell the spools' committers from the store's writer and the executor's workers."""
    libc = ctypes.CDLL(None, use_errno=True)
    run = threading.Thread.run

    def named_run(self: threading.Thread) -> None:
        libc.prctl(15, self.name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
        run(self)

    threading.Thread.run = named_run  # type: ignore[method-assign]


def main() -> None:
    out = Path(os.environ["GIRU_BENCH_PROFILE_DIR"])
    profiling = os.environ.get("GIRU_BENCH_CPROFILE", "1") != "0"  # 0: only the GC's work
    windows = [0]
    profile: list[cProfile.Profile] = []
    spent = [[0, 0.0] for _ in range(3)]  # per generation: collections, seconds
    began: list[float] = [0.0]
    at_start: list[list[list[float]]] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[info["generation"]][0] += 1
            spent[info["generation"]][1] += time.perf_counter() - began[0]

    gc.callbacks.append(timed)
    admitted = [0, 0]  # admissions, loop-thread CPU ns in them (a known credential never suspends)
    decide = Admission.decide

    async def timed_decide(self: Admission, *args: Any, **kwargs: Any) -> Any:
        began_ns = time.thread_time_ns()
        try:
            return await decide(self, *args, **kwargs)
        finally:
            admitted[0] += 1
            admitted[1] += time.thread_time_ns() - began_ns

    Admission.decide = timed_decide  # type: ignore[method-assign]
    _name_threads()

    def start(_signum: int, _frame: FrameType | None) -> None:
        profile[:] = [cProfile.Profile()]
        at_start[:] = [[list(g) for g in spent]]
        admitted[:] = [0, 0]
        if profiling:
            profile[0].enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if not profile:
            return
        profile[0].disable()
        windows[0] += 1
        target = out / f"{windows[0]}.prof"
        window = [[n - m, t - u] for (n, t), (m, u) in zip(spent, at_start[0], strict=True)]
        figures = {"gc": window, "admissions": admitted[0], "admission_ns": admitted[1]}
        target.with_suffix(".gc.json").write_text(json.dumps(figures))
        profile[0].dump_stats(str(target.with_suffix(".tmp")))
        target.with_suffix(".tmp").rename(target)  # whole files only: the bench waits for it
        profile.clear()

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    app(args=sys.argv[1:], prog_name="giru")


if __name__ == "__main__":
    main()
