"""GCRA arithmetic and the bounded table, and the local limiter driven by an injected clock."""

from __future__ import annotations

import pytest

from giru.limits import AdmissionRequest, Limit, LocalLimiter, admission_for
from giru.limits.gcra import GcraTable, gcra, interval_us
from tests.unit.limits.clock import FakeClock
from tests.unit.limits.tables import ALLOW, GCRA_TABLES, NOW, Step, client_request


@pytest.mark.parametrize(
    ("rps", "expected"), [(5, 200_000), (1, 1_000_000), (0.5, 2_000_000), (3, 333_333), (2e6, 1)]
)
def test_the_interval_is_one_second_over_the_rate_in_whole_microseconds(
    rps: float, expected: int
) -> None:
    assert interval_us(rps) == expected


@pytest.mark.parametrize(
    ("tat", "now", "expected"),
    [
        (0, 1000, (1200, -800)),  # idle key: the TAT starts from now
        (1800, 1000, (2000, 0)),  # the last token of the bucket
        (2000, 1000, (2200, 200)),  # empty bucket: wait one interval
    ],
)
def test_gcra_moves_the_tat_by_one_interval_and_says_how_long_to_wait(
    tat: int, now: int, expected: tuple[int, int]
) -> None:
    assert gcra(tat, now, interval=200, burst=5) == expected


@pytest.mark.parametrize("name", sorted(GCRA_TABLES))
def test_local_limiter_follows_the_gcra_table(name: str) -> None:
    rps, burst, steps = GCRA_TABLES[name]
    clock = FakeClock()
    limiter = LocalLimiter(clock=clock)
    answers: list[Step] = []
    for at_ms, _ in steps:
        clock.at_ms(at_ms)
        admission = limiter.decide(client_request(rps, burst))
        answers.append((at_ms, ALLOW if admission.allowed else admission.retry_after_ms))
        assert admission.source == "local"
    assert answers == steps


def test_a_denial_names_the_limit_with_its_rate() -> None:
    limiter = LocalLimiter(clock=FakeClock())
    limiter.decide(client_request(2, 1))
    admission = limiter.decide(client_request(2, 1))
    assert (admission.allowed, admission.reason, admission.limit, admission.value) == (
        False,
        "rate_limited",
        "client",
        2,
    )
    assert admission.retry_after_ms == 500


def client_request_for(client: str) -> AdmissionRequest:
    return admission_for(None, None, client, (1, 1), "echo", None, None, NOW)


def _limit(key: str) -> Limit:
    return Limit(key, "client", 1.0, 1)


def test_the_table_keeps_at_most_max_keys_dropping_the_least_recently_admitted() -> None:
    table = GcraTable(max_keys=3)
    for now, key in enumerate(["a", "b", "c", "a", "d"]):
        limits = [_limit(key)]
        planned, _, _ = table.plan(limits, now * 10_000_000)
        table.commit(limits, planned)
    assert len(table) == 3
    assert "b" not in table  # "a" was admitted again after "b"
    assert all(key in table for key in "acd")


def test_a_bounded_local_limiter_forgets_old_keys_not_new_ones() -> None:
    clock = FakeClock()
    limiter = LocalLimiter(max_keys=100, clock=clock)
    for index in range(150):
        limiter.decide(client_request_for(f"agent-{index}"))
    assert limiter.tracked_keys == 100
    # the newest key is still remembered (its burst of 1 is spent), the oldest is not
    assert not limiter.decide(client_request_for("agent-149")).allowed
    assert limiter.decide(client_request_for("agent-0")).allowed


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        GcraTable(0)
