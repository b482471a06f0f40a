"""GCRA tables shared by the local and Redis limiter tests: (rps, burst, steps), where a step is
(time in ms since the start, the expected answer: `ALLOW` or the retry-after in ms)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from giru.limits import AdmissionRequest, admission_for

__all__ = ["ALLOW", "GCRA_TABLES", "NOW", "Step", "client_request"]

ALLOW: Final = 0
NOW: Final = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

Step = tuple[int, int]

GCRA_TABLES: Final[dict[str, tuple[float, int | None, list[Step]]]] = {
    # 5 at once, then one per 200 ms; an idle second refills the bucket.
    "5rps-burst5": (
        5,
        5,
        [(0, ALLOW)] * 5
        + [(0, 200), (100, 100), (199, 1), (200, ALLOW), (200, 200), (400, ALLOW), (500, 100)]
        + [(2400, ALLOW)] * 5
        + [(2400, 200)],
    ),
    "1rps-default-burst": (
        1,
        None,
        [(0, ALLOW), (0, 1000), (999, 1), (1000, ALLOW), (1500, 500), (2000, ALLOW)],
    ),
    "half-rps": (0.5, None, [(0, ALLOW), (1, 1999), (2000, ALLOW), (2000, 2000)]),
    "10rps-burst3": (
        10,
        3,
        [(0, ALLOW)] * 3
        + [(0, 100), (50, 50), (100, ALLOW), (100, 100)]
        + [(1000, ALLOW)] * 3
        + [(1000, 100)],
    ),
    # 333,333 µs interval: retry-after rounds up to the next ms.
    "3rps-burst1": (3, 1, [(0, ALLOW), (0, 334), (333, 1), (334, ALLOW)]),
}


def client_request(rps: float, burst: int | None, now: datetime = NOW) -> AdmissionRequest:
    """A request limited by one client rate limit (key `giru:rl:client:agent`)."""
    return admission_for(None, None, "agent", (rps, burst), "echo", None, None, now)
