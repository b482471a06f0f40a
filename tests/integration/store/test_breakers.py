"""Store contract: the circuit breakers the workers report, read back as the worst per server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from giru.store import Store
from giru.store.breakers import BreakerBoard, BreakerReport
from tests.integration.store.data import ACTOR, http_server

pytestmark = pytest.mark.integration

_AT = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def _open(server: str, minutes: int = 0) -> BreakerReport:
    since = _AT + timedelta(minutes=minutes)
    return BreakerReport(server, "open", since, since + timedelta(seconds=10), "upstream_timeout")


async def _breaker(store: Store, server: str) -> dict[str, object]:
    got = await store.get("MCPServer", server)
    breaker = got.status["breaker"]
    assert isinstance(breaker, dict)
    return breaker


async def test_the_worst_breaker_across_workers_is_shown_with_the_count_reporting(
    store: Store,
) -> None:
    for name in ("github", "wiki"):
        await store.create("MCPServer", name, http_server(), actor=ACTOR)
    first = BreakerBoard(store.database, store.tenant_id, "worker-a")
    second = BreakerBoard(store.database, store.tenant_id, "worker-b")
    far = datetime.now(UTC) + timedelta(hours=1)
    await first.record([BreakerReport("github", "closed", _AT, None, "upstream_timeout")])
    await second.record(
        [BreakerReport("github", "open", _AT, far, "upstream_unavailable"), _open("gone")]
    )
    assert await _breaker(store, "github") == {
        "state": "open",
        "since": "2026-12-06T21:00:00Z",
        "until": far.isoformat().replace("+00:00", "Z"),
        "lastError": "upstream_unavailable",
        "workers": 2,
        "workersOpen": 1,
    }
    assert (await _breaker(store, "wiki"))["workers"] == 0


async def test_an_open_breaker_past_its_cool_down_reads_as_half_open(store: Store) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    board = BreakerBoard(store.database, store.tenant_id, "worker-a")
    await board.record([_open("github")])
    half = await _breaker(store, "github")
    assert (half["state"], half["until"], half["workersOpen"]) == ("half-open", None, 1)


async def test_a_worker_forgets_its_reports_and_a_newer_one_replaces_the_older(
    store: Store,
) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    board = BreakerBoard(store.database, store.tenant_id, "worker-a")
    await board.record([_open("github")])
    await board.record([BreakerReport("github", "closed", _AT, None, None)])
    closed = await _breaker(store, "github")
    assert (closed["state"], closed["workers"]) == ("closed", 1)
    await board.forget()
    assert (await _breaker(store, "github"))["workers"] == 0
