"""Giru's own sampling decision is the SDK sampler's, for every standard sampler, parent and
trace id; the SDK builds what Giru does not know."""

from __future__ import annotations

import random

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from giru.telemetry.sampling import sampler_from

_SAMPLERS = [
    ("always_on", ""),
    ("always_off", ""),
    ("parentbased_always_on", ""),
    ("parentbased_always_off", ""),
    ("traceidratio", "0.25"),
    ("parentbased_traceidratio", "0.25"),
    ("parentbased_traceidratio", "0"),
    ("parentbased_traceidratio", "not a number"),
    ("PARENTBASED_TRACEIDRATIO", "1.5"),
]


def _parent(sampled: bool | None) -> SpanContext | None:
    if sampled is None:
        return None
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else 0)
    return SpanContext(random.getrandbits(128) or 1, random.getrandbits(64) or 1, True, flags)


@pytest.mark.parametrize(("name", "argument"), _SAMPLERS)
@pytest.mark.parametrize("parent_sampled", [None, True, False])
def test_the_fast_decision_is_the_sdk_samplers_decision(
    name: str, argument: str, parent_sampled: bool | None
) -> None:
    sampler, decide = sampler_from(
        {"OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": argument}
    )
    assert sampler is not None
    assert decide is not None
    generator = random.Random(f"{name}{argument}{parent_sampled}")
    for _ in range(2000):
        parent = _parent(parent_sampled)
        trace_id = parent.trace_id if parent is not None else generator.getrandbits(128) or 1
        context = set_span_in_context(NonRecordingSpan(parent)) if parent else Context()
        expected = sampler.should_sample(context, trace_id, "x").decision is not Decision.DROP
        assert decide(parent, trace_id) is expected


def test_a_ratio_samples_about_its_share_of_new_traces() -> None:
    _, decide = sampler_from(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
    )
    assert decide is not None
    generator = random.Random(1)
    sampled = sum(decide(None, generator.getrandbits(128)) for _ in range(100_000))
    assert 800 < sampled < 1200


def test_the_default_is_parent_based_always_on() -> None:
    sampler, decide = sampler_from({})
    assert isinstance(sampler, ParentBased)
    assert decide is not None
    assert decide(None, 1)
    assert not decide(_parent(False), 1)


def test_a_ratio_out_of_range_is_one_as_in_the_sdk() -> None:
    sampler, _ = sampler_from(
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "7"}
    )
    assert isinstance(sampler, TraceIdRatioBased)
    assert sampler.rate == 1.0


def test_a_sampler_giru_does_not_know_is_left_to_the_sdk() -> None:
    assert sampler_from({"OTEL_TRACES_SAMPLER": "jaeger_remote"}) == (None, None)
