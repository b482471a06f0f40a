"""The paired-rounds helpers the diagnostic benches share (bench.pairs)."""

from __future__ import annotations

from collections import Counter

from bench.pairs import paired, said, shuffled


def test_every_side_is_timed_once_per_round_in_a_varying_order() -> None:
    order = list(shuffled(["a", "b", "c"], rounds=40, seed=7))
    rounds = [tuple(order[i : i + 3]) for i in range(0, len(order), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len(set(rounds)) > 1  # not one fixed order (which would bias a side)
    assert order == list(shuffled(["a", "b", "c"], rounds=40, seed=7))  # seeded: repeatable
    assert Counter(order) == {"a": 40, "b": 40, "c": 40}


def test_the_difference_is_the_median_of_per_round_differences() -> None:
    # per round a - b: 1, 2, 3, 4, 100; a mean would say 22
    difference = paired([11, 12, 13, 14, 110], [10, 10, 10, 10, 10])
    assert difference["median"] == 3
    low, high = difference["ci95"]
    assert 1 <= low <= 3 <= high <= 100
    assert said({"median": 3.0, "ci95": [-0.5, 4.25]}) == "+3.00 µs (95 % CI -0.50 … +4.25)"
