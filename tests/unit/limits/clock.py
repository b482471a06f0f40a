"""A settable monotonic clock in nanoseconds for the local limiter."""

from __future__ import annotations

from typing import Final

__all__ = ["FakeClock"]

START_NS: Final = 1_700_000_000 * 10**9  # a realistic magnitude: no precision to spare


class FakeClock:
    def __init__(self, start_ns: int = START_NS) -> None:
        self.start_ns = start_ns
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns

    def at_ms(self, ms: int) -> None:
        """Sets the clock to `ms` milliseconds after its start."""
        self.ns = self.start_ns + ms * 1_000_000
