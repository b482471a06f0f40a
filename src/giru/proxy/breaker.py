"""A circuit breaker per upstream server: after repeated failures, fail fast for a while.

An upstream that times out or crashes call after call would otherwise hold every caller for its
full timeout (FAULTS 4.1 "circuit-break the server after N timeouts"). While open, calls are
answered at once with `upstream_unavailable` and reason `circuit_open`; after the cool-down one
call is let through (half-open) and its outcome decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from giru.errors import UpstreamUnavailableError

__all__ = ["CircuitBreakers"]

_FAILURES_TO_OPEN: Final = 5
_COOL_DOWN_S: Final = 10.0


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreakers:
    def __init__(self, *, failures: int = _FAILURES_TO_OPEN, cool_down_s: float = _COOL_DOWN_S):
        self._threshold = failures
        self._cool_down_s = cool_down_s
        self._states: dict[str, _State] = {}

    def check(self, server: str) -> None:
        """Raise `UpstreamUnavailableError` while `server`'s breaker is open."""
        state = self._states.get(server)
        if state is None or state.opened_at is None:
            return
        if time.monotonic() - state.opened_at >= self._cool_down_s:
            state.opened_at = None  # half-open: this call decides
            state.failures = self._threshold - 1
            return
        raise UpstreamUnavailableError(
            server, "upstream is failing; calls are refused for a while", data={"circuit": "open"}
        )

    def failed(self, server: str) -> bool:
        """Count a failure; True when this one opened the breaker."""
        state = self._states.setdefault(server, _State())
        state.failures += 1
        if state.failures >= self._threshold and not self._open(state):
            state.opened_at = time.monotonic()  # anew after a cool-down (half-open)
            return True
        return False

    def succeeded(self, server: str) -> None:
        self._states.pop(server, None)

    def is_open(self, server: str) -> bool:
        """True while `server`'s calls are refused: opened, and the cool-down not over (after
        it the next call is let through and decides)."""
        state = self._states.get(server)
        return state is not None and self._open(state)

    def _open(self, state: _State) -> bool:
        opened = state.opened_at
        return opened is not None and time.monotonic() - opened < self._cool_down_s
