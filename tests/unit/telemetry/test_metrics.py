"""The label rules of Giru's metrics: `error_type` from a fixed set, bounded operator labels, and
`giru_upstream_up` that an open circuit breaker holds at 0."""

from __future__ import annotations

from typing import Any

import pytest

from giru.telemetry.metrics import OTHER, BoundedLabel, Metrics, UpstreamStatus, error_type


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"result": {"content": []}}, ""),
        ({"result": {"content": [], "isError": True}}, "tool_error"),
        ({"error": {"code": -32602, "message": "bad"}}, "-32602"),
        ({"error": {"code": -31403, "message": "denied"}}, "-31403"),
        ({"error": {"code": -31999, "message": "an upstream's own code"}}, OTHER),
        ({"error": {"code": "not a number", "message": "?"}}, OTHER),
        ({"error": "not an object"}, ""),
    ],
)
def test_error_type_takes_only_known_codes(response: dict[str, Any], expected: str) -> None:
    assert error_type(response) == expected


def test_a_bounded_label_keeps_its_first_values_and_counts_the_rest_as_other() -> None:
    label = BoundedLabel(limit=2)
    assert [label("a"), label("b"), label("c"), label("a")] == ["a", "b", OTHER, "a"]
    assert label("x" * 100) == OTHER
    assert BoundedLabel()("y" * 100) == "y" * 64


def _sample(metrics: Metrics, name: str, server: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"server": server})


def test_upstream_up_needs_an_answer_and_a_closed_circuit() -> None:
    metrics = Metrics()
    status: UpstreamStatus = metrics.upstreams
    open_circuits: set[str] = set()
    status.watch_circuits(open_circuits.__contains__)
    status.reachable("crm", answered=True)
    status.reachable("wiki", answered=False)
    assert _sample(metrics, "giru_upstream_up", "crm") == 1
    assert _sample(metrics, "giru_upstream_up", "wiki") == 0

    open_circuits.add("crm")
    status.reachable("crm", answered=True)  # a health ping passes while the breaker is open
    assert _sample(metrics, "giru_upstream_up", "crm") == 0
    assert _sample(metrics, "giru_upstream_circuit_open", "crm") == 1

    open_circuits.clear()
    assert _sample(metrics, "giru_upstream_up", "crm") == 1
    status.forget(["crm"])
    assert _sample(metrics, "giru_upstream_up", "crm") is None
