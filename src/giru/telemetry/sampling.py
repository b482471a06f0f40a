"""The sampler of Giru's traces, built from `OTEL_TRACES_SAMPLER[_ARG]` exactly as the SDK builds
it, with the same decision as a plain function of the parent and the trace id: a request that is
not sampled is decided by a flag test or one comparison, before any SDK object exists (the SDK's
`should_sample` builds a context, a result object and a mapping per call).

The six standard samplers are decided so; any other name (a sampler from an entry point) is left
to the SDK, which then decides every request itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext

__all__ = ["Decide", "ratio", "sampler_from"]

Decide = Callable[[SpanContext | None, int], bool]
"""Whether a span with this (valid, remote) parent, or none, and this trace id is sampled."""

_RATIO: Final = ("traceidratio", "parentbased_traceidratio")
_STATIC: Final = {
    "always_on": True,
    "always_off": False,
    "parentbased_always_on": True,
    "parentbased_always_off": False,
}
_LOW_64: Final = TraceIdRatioBased.TRACE_ID_LIMIT


def sampler_from(env: Mapping[str, str]) -> tuple[Sampler | None, Decide | None]:
    """The sampler `env` names and its decision; (None, None) for a name the SDK resolves
    itself. A ratio that is not a number in [0, 1] is 1.0, as in the SDK."""
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    parent_based = name.startswith("parentbased_")
    root: Callable[[int], bool]
    if name in _STATIC:
        on = _STATIC[name]
        sampler: Sampler = ALWAYS_ON if on else ALWAYS_OFF
        root = _always(on)
    elif name in _RATIO:
        by_ratio = TraceIdRatioBased(ratio(env))
        sampler, bound = by_ratio, by_ratio.bound
        root = lambda trace_id: trace_id & _LOW_64 < bound  # noqa: E731 - the hot path's test
        if parent_based:
            return ParentBased(sampler), _parent_or_ratio(bound)
    else:
        return None, None
    if not parent_based:
        return sampler, lambda _parent, trace_id: root(trace_id)
    return ParentBased(sampler), _parent_first(root)


def ratio(env: Mapping[str, str]) -> float:
    """`OTEL_TRACES_SAMPLER_ARG` as a ratio sampler's share: 1.0 unless a number in [0, 1]."""
    text = env.get("OTEL_TRACES_SAMPLER_ARG", "")
    try:
        rate = float(text)
    except ValueError:
        return 1.0
    return rate if 0.0 <= rate <= 1.0 else 1.0


def _always(on: bool) -> Callable[[int], bool]:
    return lambda _trace_id: on


def _parent_or_ratio(bound: int) -> Decide:
    """`_parent_first` of the ratio test, in one call: what every request at a ratio pays."""

    def decide(parent: SpanContext | None, trace_id: int) -> bool:
        if parent is not None:
            return parent.trace_flags.sampled
        return trace_id & _LOW_64 < bound

    return decide


def _parent_first(root: Callable[[int], bool]) -> Decide:
    """ParentBased with its default delegates: a parent's sampled flag decides, else `root`."""

    def decide(parent: SpanContext | None, trace_id: int) -> bool:
        if parent is not None:
            return parent.trace_flags.sampled
        return root(trace_id)

    return decide
