"""What a health change does to the stored status and to the catalog it holds."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from giru.catalog.snapshot import ServerCatalog
from giru.proxy.health import Health, HealthRecorder


@dataclass
class _Store:
    recorded: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def record_health(self, server: str, health: str, error: str | None) -> None:
        self.recorded.append((server, health, error))


@dataclass
class _Catalogs:
    by_server: dict[str, ServerCatalog] = field(default_factory=dict)
    refreshed: list[str] = field(default_factory=list)
    told: list[tuple[str, bool]] = field(default_factory=list)

    async def refresh(self, server: str) -> None:
        self.refreshed.append(server)

    async def health_changed(self, server: str, *, healthy: bool) -> None:
        self.told.append((server, healthy))


async def _changes(held: ServerCatalog | None, *healths: Health) -> tuple[_Store, _Catalogs]:
    store, catalogs = _Store(), _Catalogs()
    if held is not None:
        catalogs.by_server[held.server] = held
    recorder = HealthRecorder(store, catalogs)
    for health in healths:
        await recorder("fs", health, "down" if health == "unhealthy" else None)
    return store, catalogs


@pytest.mark.parametrize("held", [None, ServerCatalog(server="fs")])
async def test_the_first_good_check_at_start_up_fetches_no_catalog(
    held: ServerCatalog | None,
) -> None:
    store, catalogs = await _changes(held, "healthy")
    assert store.recorded == [("fs", "healthy", None)]
    assert catalogs.refreshed == []


async def test_a_server_healthy_again_after_being_unhealthy_is_fetched_again() -> None:
    store, catalogs = await _changes(ServerCatalog(server="fs"), "healthy", "unhealthy", "healthy")
    assert [health for _, health, _ in store.recorded] == ["healthy", "unhealthy", "healthy"]
    assert catalogs.refreshed == ["fs"]
    assert catalogs.told == [("fs", True), ("fs", False), ("fs", True)]


async def test_a_server_whose_last_fetch_failed_is_fetched_when_it_answers() -> None:
    _, catalogs = await _changes(ServerCatalog(server="fs", error="timeout"), "healthy")
    assert catalogs.refreshed == ["fs"]
