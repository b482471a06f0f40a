"""The span export queue: bounded, never waits on the collector, counts what it drops."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from giru.telemetry.export import SpanQueue


class Collector(SpanExporter):
    """An exporter that can hang (a slow collector) or fail (a collector that is down)."""

    def __init__(self, *, hang: bool = False, fail: bool = False) -> None:
        self.released = threading.Event()
        self.exporting = threading.Event()
        if not hang:
            self.released.set()
        self.fail = fail
        self.exported: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exporting.set()
        self.released.wait(10)
        if self.fail:
            return SpanExportResult.FAILURE
        self.exported += spans
        return SpanExportResult.SUCCESS


class Drops:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, reason: str, count: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + count


def traced(
    collector: Collector, drops: Drops, *, sampler: object = None
) -> tuple[TracerProvider, SpanQueue]:
    provider = TracerProvider() if sampler is None else TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    queue = SpanQueue(collector, max_queue=4, batch_size=4, delay_s=60, on_drop=drops)
    provider.add_span_processor(queue)
    return provider, queue


def test_a_hung_collector_costs_the_request_path_nothing_and_drops_are_counted() -> None:
    collector, drops = Collector(hang=True), Drops()
    provider, queue = traced(collector, drops)
    tracer = provider.get_tracer("test")
    for _ in range(100):
        tracer.start_span("call").end()  # returns although the exporter never does
    assert 100 - 8 <= drops.counts["queue_full"] <= 100 - 4
    collector.released.set()
    assert queue.force_flush(10_000)
    assert len(collector.exported) + drops.counts["queue_full"] == 100
    provider.shutdown()


def test_batches_a_collector_refuses_are_counted_as_export_failures() -> None:
    collector, drops = Collector(fail=True), Drops()
    provider, queue = traced(collector, drops)
    for _ in range(3):
        provider.get_tracer("test").start_span("call").end()
    assert queue.force_flush(10_000)
    assert drops.counts == {"export_failed": 3}
    provider.shutdown()


def test_spans_not_sampled_are_never_queued() -> None:
    collector, drops = Collector(), Drops()
    provider, queue = traced(collector, drops, sampler=ALWAYS_OFF)
    provider.get_tracer("test").start_span("call").end()
    assert queue.force_flush(10_000)
    assert collector.exported == []
    provider.shutdown()


def test_a_flush_with_nothing_queued_or_being_exported_is_done_at_once() -> None:
    collector, drops = Collector(), Drops()
    provider, queue = traced(collector, drops)
    assert queue.force_flush(0)  # no round trip through the export thread to wait for
    provider.get_tracer("test").start_span("call").end()
    assert queue.force_flush(10_000)
    assert queue.force_flush(0)
    assert len(collector.exported) == 1
    provider.shutdown()


def test_a_flush_waits_for_a_batch_being_exported_though_the_queue_is_empty() -> None:
    collector, drops = Collector(hang=True), Drops()
    provider, queue = traced(collector, drops)
    for _ in range(4):  # a whole batch: the export thread takes it off the queue at once
        provider.get_tracer("test").start_span("call").end()
    assert collector.exporting.wait(10)
    assert not queue.force_flush(50)  # the batch is still with the (hung) collector
    collector.released.set()
    assert queue.force_flush(10_000)
    assert len(collector.exported) == 4
    provider.shutdown()
