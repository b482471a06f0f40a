"""The per-upstream circuit breaker (FAULTS 4.1)."""

from __future__ import annotations

import contextlib
import time

import pytest

from giru.errors import UpstreamUnavailableError
from giru.proxy.breaker import BreakerChange, CircuitBreakers


def test_breaker_opens_after_repeated_failures_and_refuses_fast() -> None:
    breakers = CircuitBreakers(failures=3, cool_down_s=60)
    assert [breakers.failed("crm") for _ in range(3)] == [False, False, True]
    with pytest.raises(UpstreamUnavailableError) as caught:
        breakers.check("crm")
    assert caught.value.data == {"circuit": "open"}
    breakers.check("other")  # other servers are unaffected


def test_a_success_closes_the_breaker() -> None:
    breakers = CircuitBreakers(failures=2, cool_down_s=60)
    breakers.failed("crm")
    breakers.succeeded("crm")
    assert not breakers.failed("crm")
    breakers.check("crm")


def test_after_the_cool_down_one_call_is_let_through_and_decides() -> None:
    breakers = CircuitBreakers(failures=2, cool_down_s=0.01)
    breakers.failed("crm")
    assert breakers.failed("crm")
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and breakers.is_open("crm"):
        try:
            breakers.check("crm")
        except UpstreamUnavailableError:
            continue
        break
    assert not breakers.is_open("crm")  # half-open
    assert breakers.failed("crm")  # one more failure opens it again at once


def test_each_transition_is_told_to_the_watcher_with_the_last_error() -> None:
    seen: list[BreakerChange] = []
    breakers = CircuitBreakers(failures=2, cool_down_s=0.01)
    breakers.watch(seen.append)
    breakers.failed("crm", "upstream_timeout")
    assert seen == []  # below the threshold: still closed
    breakers.failed("crm", "upstream_unavailable")
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and len(seen) < 2:
        with contextlib.suppress(UpstreamUnavailableError):
            breakers.check("crm")
    breakers.succeeded("crm")
    breakers.succeeded("crm")  # closed already: nothing more to tell
    assert [(c.server, c.state, c.error) for c in seen] == [
        ("crm", "open", "upstream_unavailable"),
        ("crm", "half-open", "upstream_unavailable"),
        ("crm", "closed", "upstream_unavailable"),
    ]
    opened = seen[0]
    assert opened.until is not None
    assert opened.until > opened.at
    assert seen[1].until is None
    assert seen[2].until is None


def test_a_success_below_the_threshold_tells_nothing() -> None:
    seen: list[BreakerChange] = []
    breakers = CircuitBreakers(failures=3, cool_down_s=60)
    breakers.watch(seen.append)
    breakers.failed("crm", "upstream_timeout")
    breakers.succeeded("crm")
    assert seen == []
