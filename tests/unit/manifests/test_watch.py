"""Hot reload: new valid configs are delivered, invalid ones logged and ignored."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import structlog
from structlog.typing import EventDict, WrappedLogger

from giru.manifests import Config, load, watch

T = TypeVar("T")

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


async def write_until(file: Path, text: str, seen: Callable[[], Awaitable[T]]) -> T:
    """Write `text` until `seen()` completes: the first write may predate the watch, and two
    writes within one filesystem timestamp tick look like one to a polling watcher."""
    for attempt in itertools.count():
        await asyncio.to_thread(file.write_text, f"{text}# attempt {attempt}\n")
        try:
            return await asyncio.wait_for(seen(), timeout=1.0)
        except TimeoutError:
            continue
    raise AssertionError("unreachable")


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
            watch(
                target,
                received.put_nowait,
                current=load(target),
                force_polling=True,
                debounce_ms=100,
            )
        )
        first = await write_until(file, manifest("a", "b"), received.get)
        assert sorted(first.servers) == ["a", "b"]

        await write_until(file, manifest("a", "Broken_Name"), failed_reloads.seen.wait)
        assert failed_reloads.events[0]["problems"] == [
            f"{file}:2: MCPServer/Broken_Name: metadata.name: must be lowercase letters, digits"
            " and '-', starting and ending with a letter or digit"
        ]

        second = await write_until(file, manifest("c"), received.get)
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
        delivered = await write_until(file, manifest("z"), received.get)
        assert list(delivered.servers) == ["z"]
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
