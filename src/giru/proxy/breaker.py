"""A circuit breaker per upstream server: after repeated failures, fail fast for a while.

An upstream that times out or crashes call after call would otherwise hold every caller for its
full timeout (FAULTS 4.1 "circuit-break the server after N timeouts"). While open, calls are
answered at once with `upstream_unavailable` and reason `circuit_open`; after the cool-down one
call is let through (half-open) and its outcome decides.

Breakers live in this worker's memory; each transition (open, half-open, closed) is handed to a
watcher (`watch`), which publishes it for the admin API (`giru.proxy.breaker_reports`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from giru.errors import UpstreamUnavailableError

__all__ = ["BreakerChange", "BreakerState", "CircuitBreakers"]

_FAILURES_TO_OPEN: Final = 5
_COOL_DOWN_S: Final = 10.0

BreakerState = Literal["open", "half-open", "closed"]


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """One transition of a server's breaker: `at` (wall clock, UTC) it became `state`; an open
    breaker lets a call through again `until`; `error` is the code of the last failure."""

    server: str
    state: BreakerState
    at: datetime
    until: datetime | None = None
    error: str | None = None


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float | None = None
    tripped: bool = False
    error: str | None = None


def _ignore(change: BreakerChange) -> None:
    return None


class CircuitBreakers:
    def __init__(self, *, failures: int = _FAILURES_TO_OPEN, cool_down_s: float = _COOL_DOWN_S):
        self._threshold = failures
        self._cool_down_s = cool_down_s
        self._states: dict[str, _State] = {}
        self._watcher: Callable[[BreakerChange], None] = _ignore

    def watch(self, watcher: Callable[[BreakerChange], None]) -> None:
        """Who hears of each transition (called on the event loop; must not block)."""
        self._watcher = watcher

    def check(self, server: str) -> None:
        """Raise `UpstreamUnavailableError` while `server`'s breaker is open."""
        state = self._states.get(server)
        if state is None or state.opened_at is None:
            return
        if time.monotonic() - state.opened_at >= self._cool_down_s:
            state.opened_at = None  # half-open: this call decides
            state.failures = self._threshold - 1
            self._watcher(BreakerChange(server, "half-open", datetime.now(UTC), None, state.error))
            return
        raise UpstreamUnavailableError(
            server, "upstream is failing; calls are refused for a while", data={"circuit": "open"}
        )

    def failed(self, server: str, error: str | None = None) -> bool:
        """Count a failure (`error`: its code); True when this one opened the breaker."""
        state = self._states.setdefault(server, _State())
        state.failures += 1
        state.error = error
        if state.failures >= self._threshold and not self._open(state):
            state.opened_at = time.monotonic()  # anew after a cool-down (half-open)
            state.tripped = True
            now = datetime.now(UTC)
            until = now + timedelta(seconds=self._cool_down_s)
            self._watcher(BreakerChange(server, "open", now, until, error))
            return True
        return False

    def succeeded(self, server: str) -> None:
        state = self._states.pop(server, None)
        if state is not None and state.tripped:
            self._watcher(BreakerChange(server, "closed", datetime.now(UTC), None, state.error))

    def is_open(self, server: str) -> bool:
        """True while `server`'s calls are refused: opened, and the cool-down not over (after
        it the next call is let through and decides)."""
        state = self._states.get(server)
        return state is not None and self._open(state)

    def _open(self, state: _State) -> bool:
        opened = state.opened_at
        return opened is not None and time.monotonic() - opened < self._cool_down_s
