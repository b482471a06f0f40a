"""A per-client budget for opening SSE streams (GET and `/sse`): reconnect storms get 429 (S13)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ReconnectGuard"]

_MAX_CLIENTS: Final = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class ReconnectGuard:
    """Token bucket per client: `burst` streams at once, refilled at `per_second`."""

    def __init__(self, *, per_second: float = 5.0, burst: int = 20) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _MAX_CLIENTS:
                self._buckets.clear()  # bounded memory; forgetting only makes us more lenient
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def retry_after_s(self) -> int:
        return max(1, round(1.0 / self._rate))
