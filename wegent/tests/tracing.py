"""Recording spans in tests: the SDK's in-memory exporter behind ``wegent.telemetry.install``,
with a wait for a span to end (spans end on the server's threads, after the events a test sees)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wegent import telemetry


class Recorder(InMemorySpanExporter):
    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        with self._changed:
            self._changed.notify_all()
        return result

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.get_finished_spans() if span.name == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 30.0) -> list[ReadableSpan]:
        """The ended spans called ``name`` once there are ``count`` of them (fails after ``timeout``)."""
        with self._changed:
            ended = self._changed.wait_for(lambda: len(self.named(name)) >= count, timeout)
        assert ended, f"no {count} ended span(s) {name!r}; have {[s.name for s in self.get_finished_spans()]}"
        return self.named(name)

    def in_trace(self, trace_id: int) -> list[ReadableSpan]:
        return [span for span in self.get_finished_spans() if span.context.trace_id == trace_id]


@contextmanager
def recording() -> Iterator[Recorder]:
    exporter = Recorder()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        yield exporter
    finally:
        telemetry.uninstall()
        provider.shutdown()


def parent_id(span: ReadableSpan) -> Any:
    return span.parent.span_id if span.parent is not None else None
