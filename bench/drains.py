"""`python -m bench.drains [--ref REV] [--batch N] [--rounds R] [--prefill N]`: CPU per record
of what the drains do per batch on SQLite: the audit drain's `AuditLog._chain_and_insert`
(chain the records, store them in one transaction) and the usage drain's `insert_usage`, in
commit REV's code (default: main) beside the work tree's, in this one process, paired rounds
with A/A pairs; `--prefill`: audit rows stored before the rounds.

REV's `giru/audit/log.py`, `giru/store/audit.py` and `giru/store/usage.py` are loaded from
`git archive REV src` under other module names (what they import from giru is the work tree's);
REV's `Store` methods are redone over them (a connection of the async engine per batch, as main
did before the drains' `BatchWriter`). The sides: REV's drain and store; REV's drain with the
work tree's `Store`; the work tree's, twice; REV's usage insert and the work tree's, twice.
Each round times every side's batch of fresh records (audit ones chained after the side's own
node's head) in a shuffled order, on this process's CPU clock (the store's threads included); a
difference is the median of the per-round differences with a bootstrap 95 % interval
(bench.pairs.median_ci). SQLite is a fresh file on /dev/shm. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import uvloop

from bench.audit_insert import _records as chained_records
from bench.audit_insert import governed_records
from bench.pairs import paired, said, shuffled
from bench.refcode import ref_modules
from giru.audit import AuditLog, Entry
from giru.audit.chain import Head
from giru.metering import new_event_id
from giru.store import Store
from giru.store.database import utcnow

__all__ = ["main"]

_VERSUS = (
    ("REV drain + work tree insert", "REV"),
    ("work tree", "REV drain + work tree insert"),
    ("work tree", "REV"),
    ("work tree again", "work tree"),
    ("usage: work tree", "usage: REV"),
    ("usage: work tree again", "usage: work tree"),
)


_USAGE: Final = {
    "node": "bench",
    "subscription": "bench-subscription",
    "client": "bench-governed",
    "server": "s00",
    "tool": "echo",
    "request_id": "17",
    "duration_ms": 1.25,
    "outcome": "ok",
    "status": None,
    "bytes_in": 150,
    "bytes_out": 98,
    "cost": None,
    "person": None,
    "agent": None,
    "trace_id": None,
}
"""A governed call's usage record but for its `event_id` and `at`."""


class _RefStore:
    """The `Store`'s drain methods as REV's did them (a connection of the async engine per
    call, as from 54cb607 to a95ab1b), with REV's queries (`queries`: audit, `usage`)."""

    def __init__(self, store: Store, queries: ModuleType, usage: ModuleType) -> None:
        self._store = store
        self._queries = queries
        self._usage = usage

    async def insert_usage(self, records: Sequence[Any]) -> int:
        async with self._store.database.connection() as connection:
            inserted: int = await self._usage.insert(
                connection, "sqlite", self._store.tenant_id, records, utcnow()
            )
            await connection.commit()
        return inserted

    async def audit_head(self, node: str) -> tuple[int, str] | None:
        return await self._store.audit_head(node)

    async def audit_known(self, event_ids: Sequence[str]) -> set[str]:
        async with self._store.database.read() as session:
            found: set[str] = await self._queries.known(session, event_ids)
            return found

    async def insert_audit(self, records: Sequence[Any]) -> int:
        async with self._store.database.connection() as connection:
            inserted: int = await self._queries.insert_records(
                connection, self._store.tenant_id, records, utcnow(), "sqlite"
            )
            await connection.commit()
        return inserted


async def _prefill(store: Store, rows: int) -> None:
    """`rows` chained audit records of a node of their own (bench.audit_insert's), stored before
    the rounds (a table in use, not an empty one: where in the indexes new rows land starts to
    matter)."""
    heads: dict[str, Head] = {}
    for start in range(0, rows, 1000):
        await store.insert_audit(chained_records(min(1000, rows - start), heads))


async def _run(
    ref: str, batch: int, rounds: int, directory: Path, prefill: int = 0
) -> dict[str, Any]:
    ref_log, ref_audit, ref_usage = ref_modules(
        ref, directory / "ref", ("audit.log", "store.audit", "store.usage")
    )
    store = await Store.open(f"sqlite+aiosqlite:///{directory / 'giru.db'}", pepper=b"bench" * 8)
    ref_store = _RefStore(store, ref_audit, ref_usage)
    await _prefill(store, prefill)
    kinds = {
        "REV": (ref_log.AuditLog, ref_store),
        "REV drain + work tree insert": (ref_log.AuditLog, store),
        "work tree": (AuditLog, store),
        "work tree again": (AuditLog, store),
    }
    logs = []
    sides: dict[str, Callable[[], Awaitable[float]]] = {}
    for index, (name, (kind, audit_store)) in enumerate(kinds.items()):
        log = await kind.open(audit_store, directory / f"spool-{index}")
        logs.append(log)
        sides[name] = _side(log, batch, f"bench-{index}")
    sides["usage: REV"] = _usage_side(ref_store, batch)
    sides["usage: work tree"] = _usage_side(store, batch)
    sides["usage: work tree again"] = _usage_side(store, batch)
    try:
        for block in sides.values():
            for _ in range(5):
                await block()
        seen: dict[str, list[float]] = {name: [] for name in sides}
        load = os.getloadavg()
        for name in shuffled(sides, rounds, seed=11):
            seen[name].append(await sides[name]())
    finally:
        for log in logs:
            await log.aclose()
        await store.aclose()

    def versus(a: str, b: str) -> str:
        return said(paired(seen[a], seen[b]))

    return {
        "per_record_us": {k: round(statistics.median(v), 2) for k, v in seen.items()},
        "differences": {f"{a} - {b}": versus(a, b) for a, b in _VERSUS},
        "load": [round(v, 2) for v in (*load, *os.getloadavg())],
    }


def _side(log: Any, batch: int, node: str) -> Callable[[], Awaitable[float]]:
    async def block() -> float:
        records: Sequence[Any] = governed_records(batch, node)
        if hasattr(sys.modules[type(log).__module__], "Entry"):  # its spool holds entries
            records = [Entry(record) for record in records]
        started = time.process_time_ns()
        stored = await log._chain_and_insert(records)
        spent = time.process_time_ns() - started
        assert stored == batch
        return spent / batch / 1000

    return block


def _usage_side(store: Any, batch: int) -> Callable[[], Awaitable[float]]:
    async def block() -> float:
        records = [{**_USAGE, "event_id": new_event_id(), "at": utcnow()} for _ in range(batch)]
        started = time.process_time_ns()
        stored = await store.insert_usage(records)
        spent = time.process_time_ns() - started
        assert stored == batch
        return spent / batch / 1000

    return block


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drains", description=__doc__)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--batch", type=int, default=60, help="records per batch")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--prefill", type=int, default=0, help="audit rows stored before the rounds (default 0)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="giru-bench-drains-", dir="/dev/shm") as directory:
        result = uvloop.run(_run(args.ref, args.batch, args.rounds, Path(directory), args.prefill))
    for name, us in result["per_record_us"].items():
        print(f"{name:>30}: {us:8.2f} µs CPU per record")
    for name, difference in result["differences"].items():
        print(f"{name}: {difference}")
    print(f"load (1, 5, 15 min) before, after: {result['load']}")


if __name__ == "__main__":
    main()
