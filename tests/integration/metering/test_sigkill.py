"""A process killed with SIGKILL while appending loses no record it reported as appended."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from giru.metering import UsageWriter
from giru.store import Store
from tests.integration.metering.spool_child import APPENDERS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
BEFORE_KILL = 3000  # ids read before the kill: several segments' worth
WAIT = 60.0


def append_then_kill(directory: Path) -> list[str]:
    """Run the child, SIGKILL it once it printed `BEFORE_KILL` ids; every whole id line."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.metering.spool_child", str(directory)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    lines: list[bytes] = []
    try:
        while len(lines) < BEFORE_KILL:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the child stopped early (exit {child.wait(WAIT)})")
            lines.append(line)
    finally:
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # with what readline buffered (communicate(timeout) skips it)
        child.stdout.close()
        child.wait(WAIT)
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    return [line.decode().strip() for line in lines if line.endswith(b"\n")]


async def test_every_record_a_killed_process_reported_is_stored_once(
    store: Store, tmp_path: Path
) -> None:
    printed = await asyncio.to_thread(append_then_kill, tmp_path / "0")
    assert len(printed) >= BEFORE_KILL
    assert len(set(printed)) == len(printed)
    writer = await UsageWriter.open(
        store, tmp_path, max_bytes=1 << 30, group_commit_ms=0, batch_size=500
    )
    try:
        assert len(writer.spool.sealed) > 1  # segments rotated at 64 KiB
        assert await writer.flush(WAIT)
    finally:
        await writer.aclose()
    async with store.database.read() as session:
        stored = Counter((await session.scalars(text("SELECT event_id FROM usage_records"))).all())
    assert all(stored[event] == 1 for event in printed)
    # Only records whose append had returned but whose id was not printed yet may be extra.
    assert len(stored) - len(printed) <= APPENDERS
