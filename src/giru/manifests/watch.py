"""Hot reload: watch manifest files and hand each new valid `Config` to the gateway."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from watchfiles import awatch

from giru.errors import ConfigError
from giru.manifests.config import Config
from giru.manifests.loader import load

__all__ = ["OnChange", "watch"]

OnChange = Callable[[Config], Awaitable[None] | None]

_log = structlog.get_logger("giru.manifests")


async def watch(
    path: str | os.PathLike[str],
    on_change: OnChange,
    *,
    current: Config | None = None,
    force_polling: bool | None = None,
    debounce_ms: int = 1_600,
) -> None:
    """Reload `path` on every change until cancelled; call `on_change` with each new valid config.

    A config equal to the last good one (`current` at first) is not reported. An invalid config
    is logged with every problem and ignored: the last good config stays in force. When
    `on_change` raises, the error is logged and the same config is offered again on the next
    change. The directory
    holding `path` is watched (not the file itself) so that editors' atomic saves and Kubernetes
    ConfigMap symlink swaps are seen.

    Args:
        path: the file or directory given to `load`.
        on_change: called (and awaited if it returns an awaitable) with the new config.
        current: the config already in force, usually the result of the initial `load(path)`.
        force_polling: poll instead of using inotify (None: watchfiles decides, honouring
            `WATCHFILES_FORCE_POLLING`); some sandboxes and network filesystems need polling.
        debounce_ms: the longest time changes are grouped before a reload.
    """
    root = Path(path)
    watched = root if await asyncio.to_thread(root.is_dir) else root.parent
    last = current
    async for _changes in awatch(
        watched,
        force_polling=force_polling,
        debounce=debounce_ms,
        recursive=False,
        watch_filter=_manifest_change,
    ):
        config = await _reload(root)
        if config is None or config == last:
            continue
        if await _deliver(on_change, config, root):
            last = config


def _manifest_change(_change: object, path: str) -> bool:
    """Only manifests (and ConfigMap `..data` swaps) trigger a reload, not logs beside them."""
    name = Path(path).name
    return name.endswith((".yaml", ".yml")) or name.startswith("..")


async def _reload(root: Path) -> Config | None:
    try:
        config = await asyncio.to_thread(load, root)
    except ConfigError as exc:
        _log.warning(
            "config.reload_failed",
            path=str(root),
            error=exc.message.partition("\n")[0],
            problems=exc.data.get("problems", []),
        )
        return None
    except Exception:  # noqa: BLE001 (the watch loop is a boundary: keep the last good config)
        _log.exception("config.reload_crashed", path=str(root))
        return None
    _log.info(
        "config.reloaded",
        path=str(root),
        servers=len(config.servers),
        virtual_servers=len(config.virtual_servers),
        clients=len(config.clients),
    )
    return config


async def _deliver(on_change: OnChange, config: Config, root: Path) -> bool:
    try:
        result = on_change(config)
        if inspect.isawaitable(result):
            await result
    except Exception:  # noqa: BLE001 (a failing subscriber must not stop hot reload)
        _log.exception("config.apply_failed", path=str(root))
        return False
    return True
