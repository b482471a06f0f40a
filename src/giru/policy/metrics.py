"""Prometheus metrics of the policy decisions, registered on the registry the app passes in.

`giru_policy_decision_duration_seconds` (histogram) times each OPA decision of a governed call;
`giru_policy_decisions_total{outcome}` counts them as `allowed`, `denied` or `unavailable` (no
answer from OPA in time, or an error: the call is denied, fail-closed);
`giru_policy_denials_total{pack, control}` counts the rules that denied. `pack` and `control`
come from the policy packs (operator code, never a client), bounded all the same.
`giru_policy_visibility_total{outcome}` counts tools/list visibility answers (`cached`,
`shared`, `computed`, `unavailable`: the list is refused, no tool shown) and
`giru_policy_visibility_duration_seconds` times the computations (one OPA query each).
`giru_policy_fast_path_total{path}` counts the calls the fast path answered by how: `plan` (the
decision asked with empty arguments), `kept` (the kept full decision of a call the packs read
alike), `full` (OPA decided the call in full); read from the engine's cache when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from giru.policy.fast_path import DecisionCache
from giru.policy.visibility import VisibilityOutcome
from giru.telemetry.metrics import LATENCY_BUCKETS, BoundedLabel

__all__ = ["DecisionOutcome", "PolicyMetrics"]

DecisionOutcome = Literal["allowed", "denied", "unavailable"]
_OUTCOMES: Final[tuple[DecisionOutcome, ...]] = ("allowed", "denied", "unavailable")
_LISTED: Final[tuple[VisibilityOutcome, ...]] = ("cached", "shared", "computed", "unavailable")


class PolicyMetrics:
    """The decision metrics on `registry` (a fresh one when None, e.g. in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.duration = Histogram(
            "giru_policy_decision_duration_seconds",
            "Time to get OPA's decision for a governed call (timeouts included).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "giru_policy_decisions_total",
            "Policy decisions by outcome: allowed, denied, unavailable (no decision: denied, "
            "fail-closed).",
            ["outcome"],
            registry=registry,
        )
        self.denials = Counter(
            "giru_policy_denials_total",
            "Deny rules that fired, by policy pack and control.",
            ["pack", "control"],
            registry=registry,
        )
        self.visibility = Counter(
            "giru_policy_visibility_total",
            "tools/list visibility answers: cached, shared (joined a computation under way), "
            "computed (one OPA query), unavailable (no answer: no tool shown, fail-closed).",
            ["outcome"],
            registry=registry,
        )
        self.visibility_duration = Histogram(
            "giru_policy_visibility_duration_seconds",
            "Time to compute a caller's visible tools (one OPA query; failures included).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._fast_path = _FastPathCounts()
        registry.register(self._fast_path)
        self._outcomes = {outcome: self.decisions.labels(outcome) for outcome in _OUTCOMES}
        self._listed = {outcome: self.visibility.labels(outcome) for outcome in _LISTED}
        self._packs = BoundedLabel()
        self._controls = BoundedLabel()

    def watch(self, cache: DecisionCache) -> None:
        """Report `cache`'s counts as `giru_policy_fast_path_total` (the engine's one cache)."""
        self._fast_path.cache = cache

    def decided(self, outcome: DecisionOutcome, seconds: float) -> None:
        self._outcomes[outcome].inc()
        self.duration.observe(seconds)

    def listed(self, outcome: VisibilityOutcome) -> None:
        """A tools/list got its visible set this way."""
        self._listed[outcome].inc()

    def denied_by(self, pack: object, control: object) -> None:
        self.denials.labels(self._packs(str(pack or "")), self._controls(str(control or ""))).inc()


class _FastPathCounts(Collector):
    """`giru_policy_fast_path_total{path}` from the watched cache's counters, at scrape time:
    nothing to count per call."""

    def __init__(self) -> None:
        self.cache: DecisionCache | None = None

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "giru_policy_fast_path",
            "Calls decided with the fast path on, by how: plan (the decision asked with empty "
            "arguments), kept (the kept full decision of a call the packs read alike), full "
            "(OPA decided the call in full).",
            labels=["path"],
        )
        cache = self.cache
        if cache is not None:
            family.add_metric(["plan"], cache.hits - cache.kept_hits)
            family.add_metric(["kept"], cache.kept_hits)
            family.add_metric(["full"], cache.full)
        yield family
