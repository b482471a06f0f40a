"""Hot reload: new valid configs are delivered, invalid ones logged and ignored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.typing import EventDict, WrappedLogger

from giru.manifests import Config, load, watch

HEADER = "apiVersion: giru.ai/v1alpha1\nkind: MCPServer\n"


def manifest(*names: str) -> str:
    return "---\n".join(
        HEADER + f"metadata: {{name: {n}}}\nspec: {{transport: stdio, command: x}}\n" for n in names
    )


class FailedReloads:
    """Captures `config.reload_failed` log events and lets a test await the next one."""

    def __init__(self) -> None:
        self.events: list[EventDict] = []
        self.seen = asyncio.Event()

    def __call__(self, _: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if event.get("event") == "config.reload_failed":
            self.events.append(dict(event))
            self.seen.set()
        return event


@pytest.fixture
def failed_reloads() -> Iterator[FailedReloads]:
    recorder = FailedReloads()
    with structlog.testing.capture_logs(processors=[recorder]):
        yield recorder


async def write_until_delivered(file: Path, text: str, received: asyncio.Queue[Config]) -> Config:
    """Write `text` until the watcher reports it; the first write may predate the watch."""
    while True:
        file.write_text(text)
        try:
            return await asyncio.wait_for(received.get(), timeout=1.0)
        except TimeoutError:
            continue


@pytest.mark.parametrize("watch_file", [False, True], ids=["directory", "file"])
async def test_valid_change_is_delivered_and_invalid_one_keeps_last_good(
    tmp_path: Path, failed_reloads: FailedReloads, watch_file: bool
) -> None:
    file = tmp_path / "servers.yaml"
    file.write_text(manifest("a"))
    target = file if watch_file else tmp_path
    received: asyncio.Queue[Config] = asyncio.Queue()
    async with asyncio.timeout(30), asyncio.TaskGroup() as tasks:
        watcher = tasks.create_task(
            watch(target, received.put_nowait, current=load(target), force_polling=True, debounce_ms=100)
        )  # fmt: skip
        first = await write_until_delivered(file, manifest("a", "b"), received)
        assert sorted(first.servers) == ["a", "b"]

        file.write_text(manifest("a", "Broken_Name"))
        await failed_reloads.seen.wait()
        assert failed_reloads.events[0]["problems"] == [
            f"{file}:2: MCPServer/Broken_Name: metadata.name: must be lowercase letters, digits"
            " and '-', starting and ending with a letter or digit"
        ]

        second = await write_until_delivered(file, manifest("c"), received)
        assert sorted(second.servers) == ["c"]
        assert received.empty()  # nothing was delivered for the broken version
        watcher.cancel()
    assert watcher.cancelled()


async def test_async_callback_is_awaited_and_cancellation_stops_the_watch(tmp_path: Path) -> None:
    file = tmp_path / "servers.yaml"
    file.write_text(manifest("a"))
    received: asyncio.Queue[Config] = asyncio.Queue()

    async def on_change(config: Config) -> None:
        await received.put(config)

    async with asyncio.timeout(30):
        watcher = asyncio.get_running_loop().create_task(
            watch(tmp_path, on_change, force_polling=True, debounce_ms=100)
        )
        delivered = await write_until_delivered(file, manifest("z"), received)
        assert list(delivered.servers) == ["z"]
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
