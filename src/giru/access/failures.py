"""Failed authentications per source: a token bucket per address, in bounded memory.

Every failure takes a token; a source without one is refused (429) before its credentials are
looked at, so guessing keys costs the guesser time instead of costing Giru hashes. Successes take
nothing. At most `max_sources` addresses are tracked; past that the least recently failing one is
forgotten (an attacker spraying addresses gains a fresh bucket each, which is what they have
anyway by changing address).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureLimiter"]


class FailureLimiter:
    """`per_minute` failed authentications per source, in a burst of as many."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after_s(self, source: str) -> int | None:
        """None when `source` may try to authenticate now, else whole seconds to wait."""
        tokens = self._tokens(source)
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def failed(self, source: str) -> None:
        """Take a token from `source` for a failed authentication."""
        tokens = self._tokens(source)
        self._buckets[source] = (max(tokens - 1.0, 0.0), self._clock())
        self._buckets.move_to_end(source)
        while len(self._buckets) > self._max_sources:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, source: str) -> float:
        state = self._buckets.get(source)
        if state is None:
            return self._capacity
        tokens, at = state
        return min(self._capacity, tokens + (self._clock() - at) * self._rate)
