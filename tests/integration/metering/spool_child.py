"""A process that appends usage records to a spool as fast as it can (16 concurrent appenders)
and prints each record's event id on its own line once `append` returned; killed by a test.

Usage: python -m tests.integration.metering.spool_child SPOOL_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from giru.metering import Spool
from tests.unit.metering.data import record

APPENDERS = 16


async def _append_forever(spool: Spool) -> None:
    while True:
        item = record()
        await spool.submit(item)
        sys.stdout.write(item["event_id"] + "\n")
        sys.stdout.flush()


async def main(directory: Path) -> None:
    spool = await Spool.open(directory, group_commit_ms=1, segment_bytes=64 * 1024)
    async with asyncio.TaskGroup() as tasks:
        for _ in range(APPENDERS):
            tasks.create_task(_append_forever(spool))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
