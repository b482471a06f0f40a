"""The per-upstream circuit breaker (FAULTS 4.1)."""

from __future__ import annotations

import time

import pytest

from giru.errors import UpstreamUnavailableError
from giru.proxy.breaker import CircuitBreakers


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
