"""`python -m bench.ablated ARGS...`: the `giru` command (`giru ARGS...`) with one part of the
governed call's work that SIGRTMIN switches off and on again, for `bench.ablation`'s paired
windows inside one process (`GIRU_BENCH_ABLATE`: what is switched).

What each switch does while it is off (a measurement of what that work costs, never a way
Giru runs):

- `records`: the audit log takes no record, so a call's usage and audit records are made but
  not submitted (no spool write, no drain, no store); `usage`: the audit record goes without
  the usage record that rides in its frame;
- `drain`: records are spooled and read back by both drains, then not stored (no chaining, no
  insert); `drain-audit`, `drain-usage`: one drain only;
- `metrics`: Prometheus counters, gauges and histograms are not updated;
- `one-frame`: a call's usage record goes to the usage spool (its own frame, commit and drain)
  beside its audit record, as before usage records rode in the audit frames (2026-12-08).

The process starts with everything on. Records not stored while a drain is off are acked as
stored: the bench's store is thrown away afterwards.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Final

from giru.cli.main import app

__all__ = ["SWITCHES", "main"]

SWITCHES: Final = (
    "records",
    "usage",
    "drain",
    "drain-audit",
    "drain-usage",
    "metrics",
    "one-frame",
)


def main() -> None:
    what = os.environ.get("GIRU_BENCH_ABLATE", "")
    if what not in SWITCHES:
        raise SystemExit(f"GIRU_BENCH_ABLATE must be one of {', '.join(SWITCHES)}, not {what!r}")
    off = [False]

    def toggle(_signum: int, _frame: FrameType | None) -> None:
        off[0] = not off[0]

    _switch(what, lambda: off[0])
    signal.signal(signal.SIGRTMIN, toggle)
    app(args=sys.argv[1:], prog_name="giru")


def _switch(what: str, off: Callable[[], bool]) -> None:
    if what in ("records", "usage", "one-frame"):
        _submits(what, off)
    elif what.startswith("drain"):
        _drains(what, off)
    else:
        _metrics(off)


def _submits(what: str, off: Callable[[], bool]) -> None:
    """`AuditLog.submit(record, usage)`, where the gate hands a call's records over, switched:
    nothing submitted (`records`), the usage record dropped (`usage`), or the usage record in
    the usage spool beside its audit record, as before one frame per call (`one-frame`)."""
    import asyncio

    from giru.audit import AuditLog
    from giru.metering import UsageWriter

    writers: list[UsageWriter] = []
    opened, submit = UsageWriter.__init__, AuditLog.submit

    def _opened(self: UsageWriter, *args: Any, **kwargs: Any) -> None:
        opened(self, *args, **kwargs)
        writers.append(self)

    def _submit(self: AuditLog, record: Any, usage: Any = None) -> Any:
        if not off():
            return submit(self, record, usage)
        if what == "records":
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        if what == "usage" or usage is None:
            return submit(self, record)
        return asyncio.gather(submit(self, record), writers[0].submit(usage))

    UsageWriter.__init__ = _opened  # type: ignore[method-assign]
    AuditLog.submit = _submit  # type: ignore[method-assign]


def _drains(what: str, off: Callable[[], bool]) -> None:
    from giru.metering.drain import Drain

    kinds = {"drain": ("usage", "audit"), "drain-audit": ("audit",), "drain-usage": ("usage",)}
    insert = Drain._insert

    async def _insert(self: Drain[Any], records: Sequence[Any]) -> int:
        if off() and self._kind in kinds[what]:
            return len(records)
        return await insert(self, records)

    Drain._insert = _insert  # type: ignore[method-assign]


def _metrics(off: Callable[[], bool]) -> None:
    from prometheus_client import metrics, values

    inc, set_ = values.MutexValue.inc, values.MutexValue.set  # untyped in prometheus_client
    observe = metrics.Histogram.observe

    def _inc(self: Any, amount: float) -> None:
        if not off():
            inc(self, amount)  # type: ignore[no-untyped-call]

    def _set(self: Any, value: float, timestamp: float | None = None) -> None:
        if not off():
            set_(self, value, timestamp)  # type: ignore[no-untyped-call]

    def _observe(self: Any, amount: float, exemplar: Any = None) -> None:
        if not off():
            observe(self, amount, exemplar)

    values.MutexValue.inc = _inc  # type: ignore[method-assign]
    values.MutexValue.set = _set  # type: ignore[method-assign]
    metrics.Histogram.observe = _observe  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
