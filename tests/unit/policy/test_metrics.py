"""The fast path's counts as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from giru.policy.fast_path import DecisionCache
from giru.policy.metrics import PolicyMetrics


def _paths(registry: CollectorRegistry) -> dict[str, float | None]:
    name = "giru_policy_fast_path_total"
    return {p: registry.get_sample_value(name, {"path": p}) for p in ("plan", "kept", "full")}


def test_the_fast_path_counts_are_read_from_the_watched_cache_when_scraped() -> None:
    registry = CollectorRegistry()
    metrics = PolicyMetrics(registry)
    assert _paths(registry) == {"plan": None, "kept": None, "full": None}  # no engine yet
    cache = DecisionCache()
    metrics.watch(cache)
    cache.hits, cache.kept_hits, cache.full = 5, 2, 7  # five from the cache, two of them kept
    assert _paths(registry) == {"plan": 3.0, "kept": 2.0, "full": 7.0}
