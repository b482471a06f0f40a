"""A bounded span export queue: the request path appends (or drops and counts), one thread exports.

The SDK's batch processor logs a warning for every span it drops when its queue is full, which
puts a log write on the request path exactly when the collector is down. This one counts instead:
`on_end` is a length check and a deque append, never I/O, never a wait; a collector that is down
or slow costs the request path nothing (its spans are dropped once the queue is full).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["DropReason", "SpanQueue"]

DropReason = str
"""`queue_full` (the exporter is behind) or `export_failed` (the collector refused or is down)."""
_JOIN_S: Final = 5.0


class SpanQueue(SpanProcessor):
    """Sampled spans to `exporter` in batches of `batch_size`, at least every `delay_s`."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue: int,
        batch_size: int,
        delay_s: float,
        on_drop: Callable[[DropReason, int], None],
    ) -> None:
        self._exporter = exporter
        self._max_queue = max_queue
        self._batch_size = min(batch_size, max_queue)
        self._delay_s = delay_s
        self._on_drop = on_drop
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._flushed = threading.Event()
        self._draining = False
        """The export thread is taking spans off the queue or exporting them."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="giru-span-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        self.put(span)

    def put(self, span: ReadableSpan) -> None:
        """Queue a sampled span (Giru's own spans are, by construction: no flag to test)."""
        if self._stopping:
            return
        if len(self._queue) >= self._max_queue:
            self._on_drop("queue_full", 1)
            return
        self._queue.append(span)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            stopping = self._stopping
            self._draining = True
            self._drain()
            self._draining = False
            self._flushed.set()
            if stopping:
                return

    def _drain(self) -> None:
        while self._queue:
            batch: list[ReadableSpan] = []
            while self._queue and len(batch) < self._batch_size:
                batch.append(self._queue.popleft())
            self._export(batch)

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        try:
            result = self._exporter.export(batch)
        except Exception:  # noqa: BLE001 - the export thread's boundary: count, carry on
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._on_drop("export_failed", len(batch))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued now; False if that took longer than `timeout_millis`. Nothing
        queued and nothing being exported: True at once, without waking the export thread (the
        queue is tested first: a span leaves it only once the thread is draining)."""
        if not self._queue and not self._draining:
            return True
        self._flushed.clear()
        self._wake.set()
        return self._flushed.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's own timeout), then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(_JOIN_S)
        self._exporter.shutdown()
