"""`python -m bench.audit_insert [--batch N] [--rounds R]`: CPU per audit record of inserting
chained records into SQLite the way the audit drain does (`giru.store.audit.insert_records` in
one transaction per batch): SQLite's insert (since perf-drains a driver-level statement of
plain tuples, the JSON columns as orjson text) beside the Core insert with the JSON type's own
`json.dumps` (what PostgreSQL gets, and SQLite got before), in paired rounds on this process's
CPU clock (the aiosqlite thread included), an A/A pair beside. `python -m bench.drains` compares
a commit's drain with the work tree's.

The records carry the details of a governed call (a recorded policy input, the packs in scope).
SQLite is a fresh file on /dev/shm. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import uvloop

from bench.pairs import paired, said, shuffled
from giru.audit import AuditRecord, ChainedRecord, Head, link
from giru.metering import new_event_id
from giru.store import Store
from giru.store.audit import insert_records

__all__ = ["DETAILS", "main"]

DETAILS: Final = {
    "status": None,
    "input": {
        "binding": {"packs": ["core", "pci"], "params": {"core": {"max_argument_bytes": 65536}}},
        "request": {"protocol_version": "2026-07-28", "era": "modern"},
        "subject": {"client": "bench-governed", "person": None, "groups": [], "scopes": []},
        "client": {"name": "bench-governed", "labels": {}, "rate": None},
        "context": {"virtual_server": None, "source_ip": "127.0.0.1"},
        "mcp": {
            "method": "tools/call",
            "server": "s00",
            "tool": "echo",
            "tool_tags": [],
            "argument_bytes": 25,
            "argument_shapes": {"type": "object", "keys": {"text": {"type": "string"}}},
        },
    },
    "policy": {"packs": ["core", "pci"], "controls": ["PCI DSS Req 3.4"]},
    "result": "ok",
}


def governed_records(count: int, node: str) -> list[AuditRecord]:
    """`count` audit records of a governed call (bench-governed's echo on s00) from `node`."""
    return [
        {
            "event_id": new_event_id(),
            "at": datetime.now(UTC),
            "node": node,
            "actor": "bench-governed",
            "action": "tools/call",
            "server": "s00",
            "target": "echo",
            "outcome": "allowed",
            "reasons": [],
            "policy_revision": "rev-1",
            "source_ip": "127.0.0.1",
            "details": DETAILS,
        }
        for _ in range(count)
    ]


def _records(count: int, heads: dict[str, Head]) -> list[ChainedRecord]:
    made = governed_records(count, "bench")
    chained, after = link(made, heads)
    heads.update(after)
    return chained


async def _run(batch: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="giru-bench-audit-", dir="/dev/shm") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'giru.db'}"
        store = await Store.open(url, pepper=b"bench-pepper-0123456789abcdef")
        heads: dict[str, Head] = {}
        tenant = store._tenant  # what Store.insert_audit passes

        def side(dialect: str) -> Callable[[], Awaitable[float]]:
            async def block() -> float:
                records = _records(batch, heads)
                started = time.process_time_ns()
                async with store.database.connection() as connection:
                    await insert_records(connection, tenant, records, datetime.now(UTC), dialect)
                    await connection.commit()
                return (time.process_time_ns() - started) / batch / 1000

            return block

        sides = {
            "core, json type": side("postgresql"),
            "sqlite insert": side("sqlite"),
            "sqlite insert again": side("sqlite"),
        }
        for block in sides.values():
            for _ in range(5):
                await block()
        seen: dict[str, list[float]] = {name: [] for name in sides}
        load = os.getloadavg()
        for name in shuffled(sides, rounds, seed=11):
            seen[name].append(await sides[name]())
        await store.aclose()

    def versus(a: str, b: str) -> str:
        return said(paired(seen[a], seen[b]))

    return {
        "per_record_us": {k: round(statistics.median(v), 2) for k, v in seen.items()},
        "sqlite - core": versus("sqlite insert", "core, json type"),
        "A/A": versus("sqlite insert again", "sqlite insert"),
        "load": [round(v, 2) for v in (*load, *os.getloadavg())],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_insert", description=__doc__)
    parser.add_argument("--batch", type=int, default=60, help="records per insert")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    result = uvloop.run(_run(args.batch, args.rounds))
    for name, us in result["per_record_us"].items():
        print(f"{name:>20}: {us:8.2f} µs CPU per record")
    print(f"sqlite - core: {result['sqlite - core']}; A/A: {result['A/A']}")
    print(f"load (1, 5, 15 min) before, after: {result['load']}")


if __name__ == "__main__":
    main()
