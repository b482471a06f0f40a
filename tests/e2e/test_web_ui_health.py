"""A server's health history on its page against a real `giru run` (web/e2e/ui.mjs
`health-history`): a real upstream over HTTP is checked every fraction of a second, goes away,
and the server's page lists the transition to down (with the checker's error) above the one to
up, newest first; the change log holds one record per transition, not one per check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.breaking import NAME, FlakyUpstream
from tests.integration.gateway import ADMIN_TOKEN, CLIENT, RunningGiru, run_giru, wait_until
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FAST_HEALTH = {
    "GIRU_CATALOG__HEALTH_INTERVAL_S": "0.2",
    "GIRU_CATALOG__HEALTH_TIMEOUT_S": "0.5",
    "GIRU_CATALOG__UNHEALTHY_AFTER": "2",
}
"""Health checks five times a second; two failures in a row make the server unhealthy."""


@pytest.fixture
def checked(tmp_path: Path) -> Iterator[tuple[RunningGiru, FlakyUpstream]]:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    upstream = FlakyUpstream()
    try:
        manifests = "---".join([upstream.manifest(), CLIENT])
        with run_giru(manifests, tmp_path, extra_env=FAST_HEALTH) as giru:
            yield giru, upstream
    finally:
        upstream.close()


def _health(giru: RunningGiru) -> str:
    answer = httpx.get(giru.url(f"/api/v1/servers/{NAME}"), headers=ADMIN, timeout=10.0)
    assert answer.status_code == 200, answer.text
    health = answer.json()["status"]["health"]
    assert isinstance(health, str)
    return health


def _history(giru: RunningGiru) -> list[dict[str, Any]]:
    query = {"kind": "MCPServer", "name": NAME, "action": "health"}
    answer = httpx.get(giru.url("/api/v1/changes"), params=query, headers=ADMIN, timeout=10.0)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert isinstance(items, list)
    return items


def test_a_server_going_down_shows_in_its_pages_health_history(
    checked: tuple[RunningGiru, FlakyUpstream],
) -> None:
    giru, upstream = checked
    wait_until(lambda: _health(giru) == "healthy", "the upstream checked healthy", 60)
    upstream.stop()
    wait_until(lambda: _health(giru) == "unhealthy", "the upstream checked unhealthy", 60)
    recorded = _history(giru)

    result = run_node(
        ["e2e/ui.mjs", "health-history"],
        timeout=240.0,
        env={"GIRU_URL": giru.base, "GIRU_ADMIN_TOKEN": ADMIN_TOKEN, "GIRU_SERVER": NAME},
    )

    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    history = _history(giru)  # the checks made meanwhile found the same health: no record
    assert history == recorded
    assert [c["detail"]["health"] for c in history] == ["unhealthy", "healthy"], history
    error = " ".join(history[0]["detail"]["error"].split())
    assert error, history
    assert seen["heading"] == 1, seen
    assert [row[1:] for row in seen["rows"]] == [["down", error], ["up", ""]], seen
    assert seen["times"] == [c["at"] for c in history], seen
    assert seen["breaker"] == "Circuit breaker now: breaker closed", seen
