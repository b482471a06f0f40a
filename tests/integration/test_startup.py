"""Starting `giru run`: each catalog is fetched once, and a moved configuration directory
takes its objects over with `--adopt` (the refusal without it names that command)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)

pytestmark = pytest.mark.integration

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
MANIFESTS = python_stdio_server("fs") + "---" + CLIENT


def _events(giru: RunningGiru, event: str, server: str) -> int:
    """How many `event` log lines name `server` (the log is JSON lines)."""
    found = 0
    for line in giru.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            found += entry.get("event") == event and entry.get("server") == server
    return found


def _healthy(giru: RunningGiru, server: str) -> bool:
    status = httpx.get(giru.url(f"/api/v1/servers/{server}"), headers=ADMIN, timeout=5).json()
    return bool(status["status"].get("health") == "healthy")


def test_each_catalog_is_fetched_once_at_start_up(tmp_path: Path) -> None:
    with run_giru(MANIFESTS, tmp_path) as giru:
        wait_until(lambda: _healthy(giru, "fs"), "fs healthy (its first health check recorded)")
        synced = httpx.post(giru.url("/api/v1/servers/fs/sync"), headers=ADMIN, timeout=30)
        assert synced.status_code == 200, synced.text
        # the start-up fetch, then the one asked for: the first good health check added none
        assert _events(giru, "catalog_refreshed", "fs") == 2


def test_a_moved_config_directory_is_refused_with_a_hint_then_adopted(tmp_path: Path) -> None:
    database = {"GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}"}
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    with run_giru(MANIFESTS, old, extra_env=database):
        pass
    with (
        pytest.raises(RuntimeError, match="exited early") as refused,
        run_giru(MANIFESTS, new, extra_env=database),
    ):
        pass
    assert f"giru run --config {new / 'giru.yaml'} --adopt" in str(refused.value)
    with run_giru(MANIFESTS, new, extra_env=database, args=("--adopt",)) as giru:
        server = httpx.get(giru.url("/api/v1/servers/fs"), headers=ADMIN, timeout=5).json()
        assert server["metadata"]["managedBy"] == f"file:{new / 'giru.yaml'}"
