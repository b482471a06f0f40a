"""Bounds on free-form JSON fields: depth first (without recursion), then encoded size."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from giru.manifests.bounds import MAX_FIELD_BYTES, MAX_FIELD_DEPTH, json_bound_problem
from giru.manifests.documents import ClientSpec, PolicySpec, SubscriptionSpec


def nested(depth: int) -> Any:
    value: Any = {}
    for n in range(depth - 1):
        value = {"a": value} if n % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({}, None),
        ("scalar", None),
        (nested(MAX_FIELD_DEPTH), None),
        (nested(MAX_FIELD_DEPTH + 1), "nested deeper than 32 levels"),
        (nested(100_000), "nested deeper than 32 levels"),
        ({"x": "y" * MAX_FIELD_BYTES}, f"larger than {MAX_FIELD_BYTES} bytes as JSON"),
        ({"x": object()}, "must be plain JSON (objects, arrays, strings, numbers, booleans, null)"),
    ],
    ids=["empty", "scalar", "at-depth", "past-depth", "very-deep", "too-big", "not-json"],
)
def test_values_are_measured_by_depth_then_size(value: Any, problem: str | None) -> None:
    assert json_bound_problem(value, MAX_FIELD_DEPTH, MAX_FIELD_BYTES) == problem


def _field_of(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[int | str, ...]:
    (error,) = exc.value.errors()
    return error["loc"]


def test_deep_subscription_constraints_are_refused_at_their_field() -> None:
    spec = {"client": "a", "server": "b", "scopeType": "all", "constraints": nested(254)}
    with pytest.raises(ValidationError) as exc:
        SubscriptionSpec.model_validate(spec)
    assert _field_of(exc) == ("constraints",)


def test_deep_policy_data_is_refused_at_its_pack() -> None:
    with pytest.raises(ValidationError) as exc:
        PolicySpec.model_validate({"packs": ["core"], "data": {"core": {"x": nested(40)}}})
    assert _field_of(exc) == ("data", "core")


def test_claims_larger_than_the_bound_are_refused_as_a_whole() -> None:
    claims = {f"c{n}": "x" * 1024 for n in range(64)}
    with pytest.raises(ValidationError) as exc:
        ClientSpec.model_validate({"claims": claims})
    assert _field_of(exc) == ("claims",)
