"""GCRA (generic cell rate algorithm) in integer microseconds, and a bounded table of TATs.

A limit of `rps` with bucket `burst` has the emission interval T = 1 s / rps. Each key keeps a
theoretical arrival time (TAT). A call at `now` is admitted when `max(TAT, now) + T - burst*T
<= now`; admitting moves the TAT to `max(TAT, now) + T`. So `burst` calls pass at once, then one
per T; a denied call learns exactly how long to wait. The Lua script in `lua.py` is the same
arithmetic; keep them in step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from giru.limits.admission import Limit

__all__ = ["GcraTable", "gcra", "interval_us"]


def interval_us(rps: float) -> int:
    """The emission interval of `rps` in whole microseconds (at least 1)."""
    return max(1, round(1_000_000 / rps))


def gcra(tat: int, now: int, interval: int, burst: int) -> tuple[int, int]:
    """(the TAT after admitting a call at `now`, µs to wait before that call is allowed).

    A wait <= 0 means the call is allowed now; all values are in µs on one clock.
    """
    new_tat = (tat if tat > now else now) + interval
    return new_tat, new_tat - burst * interval - now


class GcraTable:
    """TATs per key, in memory, at most `max_keys` of them: the least recently admitted key goes
    first (usually long expired; forgetting a live one only makes that limit more lenient)."""

    def __init__(self, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self._max_keys = max_keys
        self._tats: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    def __contains__(self, key: str) -> bool:
        return key in self._tats

    def plan(self, limits: Sequence[Limit], now: int) -> tuple[list[int], int, int]:
        """Checks every limit at `now`, changing nothing: (the TATs to commit if admitted, the
        index of the limit needing the longest wait or -1 if all allow, that wait in µs)."""
        tats = self._tats
        planned: list[int] = []
        worst, worst_wait = -1, 0
        for index, limit in enumerate(limits):
            interval = interval_us(limit.rps)
            new_tat, wait = gcra(tats.get(limit.key, 0), now, interval, limit.burst)
            if wait > worst_wait:
                worst, worst_wait = index, wait
            planned.append(new_tat)
        return planned, worst, worst_wait

    def commit(self, limits: Sequence[Limit], planned: Sequence[int]) -> None:
        """Stores the TATs `plan` returned for the same limits (the call was admitted)."""
        tats = self._tats
        for limit, tat in zip(limits, planned, strict=True):
            tats[limit.key] = tat
            tats.move_to_end(limit.key)
        while len(tats) > self._max_keys:
            tats.popitem(last=False)
