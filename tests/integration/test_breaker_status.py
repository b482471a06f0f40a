"""The admin API shows each upstream's circuit breaker, which lives in the gateway worker's
memory: a real upstream goes away, calls open its breaker, the API says open (with the failure's
code, since when, and the one worker reporting) and `giru_upstream_up` says 0; the upstream
comes back, a call passes, the API says closed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.breaking import (
    NAME,
    FlakyUpstream,
    breaker,
    bring_back,
    call,
    flaky_giru,
    take_down,
)
from tests.integration.gateway import RunningGiru, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[RunningGiru, FlakyUpstream]]:
    with flaky_giru(tmp_path) as flaky:
        yield flaky


def _gauge(giru: RunningGiru, name: str) -> float:
    text = httpx.get(giru.url("/metrics"), timeout=10.0).text
    match = re.search(rf'^{name}\{{server="{NAME}"\}} (\S+)$', text, re.MULTILINE)
    assert match is not None, f"{name} for {NAME} is not exported"
    return float(match.group(1))


def test_the_api_shows_a_breaker_open_while_its_upstream_is_gone_and_closed_after(
    flaky: tuple[RunningGiru, FlakyUpstream],
) -> None:
    giru, upstream = flaky
    assert "result" in call(giru, 0)
    assert breaker(giru) == {
        "state": "closed",
        "since": None,
        "until": None,
        "lastError": None,
        "workers": 0,
        "workersOpen": 0,
    }

    take_down(giru, upstream)
    wait_until(lambda: breaker(giru)["state"] == "open", "the API reports the breaker open")
    opened = breaker(giru)
    assert opened["workers"] == 1
    assert opened["workersOpen"] == 1
    assert opened["lastError"] == "upstream_timeout", opened
    assert datetime.fromisoformat(opened["until"]) > datetime.fromisoformat(opened["since"])
    assert _gauge(giru, "giru_upstream_circuit_open") == 1.0
    assert _gauge(giru, "giru_upstream_up") == 0.0

    bring_back(giru, upstream)
    wait_until(lambda: breaker(giru)["state"] == "closed", "the API reports the breaker closed")
    closed = breaker(giru)
    assert (closed["workers"], closed["workersOpen"], closed["until"]) == (1, 0, None)
    assert _gauge(giru, "giru_upstream_circuit_open") == 0.0
