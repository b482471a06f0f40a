"""Failed authentications per source: a token bucket per address, bounded in memory."""

from __future__ import annotations

from giru.access.failures import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_source_is_refused_after_its_burst_of_failures_and_told_when_to_retry() -> None:
    clock = Clock()
    limiter = FailureLimiter(6, clock=clock)
    for _ in range(6):
        assert limiter.retry_after_s("10.0.0.1") is None
        limiter.failed("10.0.0.1")
    assert limiter.retry_after_s("10.0.0.1") == 10  # one failure back every 10 s
    assert limiter.retry_after_s("10.0.0.2") is None
    clock.now += 10.0
    assert limiter.retry_after_s("10.0.0.1") is None


def test_tokens_refill_up_to_the_burst_only() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, clock=clock)
    limiter.failed("a")
    clock.now += 3600.0
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after_s("a") is not None


def test_at_most_max_sources_are_remembered_the_least_recent_forgotten() -> None:
    limiter = FailureLimiter(1, max_sources=3, clock=Clock())
    for source in ("a", "b", "c", "d"):
        limiter.failed(source)
    assert len(limiter) == 3
    assert limiter.retry_after_s("a") is None
    assert limiter.retry_after_s("d") is not None
