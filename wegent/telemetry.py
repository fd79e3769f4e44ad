"""OpenTelemetry, switched on only when ``OTEL_*`` environment variables ask for it.

Beyond the Django instrumentation (one span per HTTP request), one chat turn is one trace:

    chat:send                       (chat/namespace.py: the event, with task and subtask ids)
      chat.answer                   (chat/streams.py Runner.run: team, model, tokens, ending)
        chat.model_call             (each provider round: model, tokens, finish reason)
        chat.tool_call <name>       (each tool the model called)
        db.write                    (every INSERT/UPDATE/DELETE run inside a trace)

Celery tasks continue the trace of whoever queued them (the ``traceparent`` travels in the
message headers), and a device's or executor's reports about an answer continue the trace of
the ``chat:send`` that dispatched it (its context is kept in the cache by subtask id).

When tracing is off (the default) ``_tracer`` is None, nothing here is imported from
OpenTelemetry, no database wrapper or Celery signal is installed, and each helper returns at its
first line (``span`` hands back one shared no-op context manager).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

logger = logging.getLogger("wegent.telemetry")
_configured = False
# The tracer spans are made with; None while tracing is off.
_tracer: Any = None
_NOOP = contextlib.nullcontext()

# Attribute names (OpenTelemetry's gen_ai conventions where one exists).
TASK_ID = "wegent.task_id"
SUBTASK_ID = "wegent.subtask_id"
TEAM = "wegent.team"
MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
FINISH_REASON = "wegent.finish_reason"
TOOL_NAME = "gen_ai.tool.name"

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
_STATEMENT_CHARS = 500
_CONTEXT_KEY = "wegent:trace:subtask:{}"
_CONTEXT_SECONDS = 24 * 3600


def telemetry_requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_TRACES_EXPORTER")
    )


def configure_telemetry() -> bool:
    """Installs the tracer provider and Django instrumentation once; returns whether it did."""
    global _configured
    if _configured or not telemetry_requested():
        return _configured
    # Imported here so that the embedded default pays nothing for telemetry it does not use.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "wegent")})
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp") == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    install(provider)
    _configured = True
    logger.info("OpenTelemetry tracing enabled")
    return True


def install(provider: Any) -> None:
    """Starts the project's own spans on ``provider`` (``configure_telemetry``; tests pass an SDK
    provider with an in-memory exporter): database writes, Celery context, chat spans."""
    global _tracer
    _tracer = provider.get_tracer("wegent")
    _install_db_wrapper()
    _connect_celery()


def uninstall() -> None:
    """Tracing off again (tests)."""
    global _tracer
    _tracer = None
    _uninstall_db_wrapper()
    _disconnect_celery()


def tracing() -> bool:
    return _tracer is not None


# --- spans ----------------------------------------------------------------------------------------


def span(name: str, attributes: Mapping[str, Any] | None = None) -> Any:
    """A context manager: the span named ``name`` is current inside it (yields it; None when off).
    An exception leaving it is recorded and marks the span as failed."""
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=_clean(attributes))


def start_span(name: str, attributes: Mapping[str, Any] | None = None) -> Any:
    """A span that is not made current (one that ends elsewhere); None when off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, attributes=_clean(attributes))


def end_span(opened: Any, attributes: Mapping[str, Any] | None = None, *, error: str | None = None) -> None:
    if opened is None:
        return
    annotate(opened, attributes)
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        opened.set_status(Status(StatusCode.ERROR, error))
    opened.end()


def annotate(target: Any, attributes: Mapping[str, Any] | None) -> None:
    """Sets attributes on a span (None: nothing; the no-op span of ``span`` yields None)."""
    if target is None or not attributes:
        return
    target.set_attributes(_clean(attributes))


def current() -> Any:
    """The current span while tracing (None when off or outside any span)."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    found = trace.get_current_span()
    return found if found.get_span_context().is_valid else None


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """OpenTelemetry takes str, bool, int, float and lists of them; None values are left out."""
    if not attributes:
        return {}
    return {key: value for key, value in attributes.items() if value is not None}


# --- a trace that goes on elsewhere (devices and executors report later, on any worker) ----------


def remember(subtask_id: int) -> None:
    """Keeps the current trace context for the answer ``subtask_id`` (its reports join it)."""
    if _tracer is None or current() is None:
        return
    from django.core.cache import cache
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    cache.set(_CONTEXT_KEY.format(subtask_id), carrier, _CONTEXT_SECONDS)


def resumed(name: str, subtask_id: int, attributes: Mapping[str, Any] | None = None) -> Any:
    """A span (current inside the block) in the trace remembered for ``subtask_id``, else a new
    trace's. No-op when off."""
    if _tracer is None:
        return _NOOP
    from django.core.cache import cache
    from opentelemetry.propagate import extract

    carrier = cache.get(_CONTEXT_KEY.format(subtask_id))
    parent = extract(carrier) if isinstance(carrier, dict) else None
    attributes = {SUBTASK_ID: subtask_id, **(attributes or {})}
    return _tracer.start_as_current_span(name, context=parent, attributes=_clean(attributes))


# --- database writes ------------------------------------------------------------------------------


def _db_writes(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any) -> Any:
    """Django ``execute_wrapper``: a ``db.write`` span around each write made inside a trace
    (reads are many and cheap; the writes are what a turn changes)."""
    tracer = _tracer
    if tracer is None or not isinstance(sql, str) or not _WRITE.match(sql) or current() is None:
        return execute(sql, params, many, context)
    connection = context["connection"]
    attributes = {
        "db.system": connection.vendor,
        "db.operation": _WRITE.match(sql).group(1).upper(),  # type: ignore[union-attr]
        "db.statement": sql[:_STATEMENT_CHARS],
        "db.executemany": many,
    }
    with tracer.start_as_current_span("db.write", attributes=attributes):
        return execute(sql, params, many, context)


def _add_db_wrapper(sender: Any = None, connection: Any = None, **_: Any) -> None:
    if connection is not None and _db_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(_db_writes)


def _install_db_wrapper() -> None:
    from django.db import connections
    from django.db.backends.signals import connection_created

    # New connections (each thread opens its own) get it when they connect; this thread's now.
    connection_created.connect(_add_db_wrapper, weak=False, dispatch_uid="wegent.telemetry.db")
    for connection in connections.all(initialized_only=True):
        _add_db_wrapper(connection=connection)


def _uninstall_db_wrapper() -> None:
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.disconnect(dispatch_uid="wegent.telemetry.db")
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(ValueError):
            connection.execute_wrappers.remove(_db_writes)


# --- Celery ---------------------------------------------------------------------------------------

_celery_spans: dict[str, tuple[Any, Any]] = {}


def _inject_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: the queuing side's trace context goes in the message headers."""
    if _tracer is None or headers is None or current() is None:
        return
    from opentelemetry.propagate import inject

    inject(headers)


def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """``task_prerun``: the task runs in a span of the trace it was queued in (from the
    headers; an eager task runs inline, inside the caller's span already)."""
    if _tracer is None or task is None or task_id is None:
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    request = task.request
    carrier = {
        key: value
        for key in ("traceparent", "tracestate")
        if isinstance(value := getattr(request, key, None) or (request.headers or {}).get(key), str)
    }
    parent = extract(carrier) if carrier else None
    opened = _tracer.start_span(
        f"celery.run {task.name}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={"celery.task_name": task.name, "celery.task_id": task_id},
    )
    token = otel_context.attach(trace.set_span_in_context(opened))
    _celery_spans[task_id] = (opened, token)


def _task_ended(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    held = _celery_spans.pop(task_id, None) if task_id is not None else None
    if held is None:
        return
    from opentelemetry import context as otel_context

    opened, token = held
    if state is not None:
        opened.set_attribute("celery.state", state)
    otel_context.detach(token)
    opened.end()


def _task_failed(task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    held = _celery_spans.get(task_id) if task_id is not None else None
    if held is not None and exception is not None:
        from opentelemetry.trace import Status, StatusCode

        held[0].record_exception(exception)
        held[0].set_status(Status(StatusCode.ERROR, type(exception).__name__))


_CELERY_SIGNALS = (
    ("before_task_publish", _inject_headers),
    ("task_prerun", _task_started),
    ("task_failure", _task_failed),
    ("task_postrun", _task_ended),
)


def _connect_celery() -> None:
    from celery import signals

    for name, handler in _CELERY_SIGNALS:
        getattr(signals, name).connect(handler, weak=False, dispatch_uid=f"wegent.telemetry.{name}")


def _disconnect_celery() -> None:
    from celery import signals

    for name, handler in _CELERY_SIGNALS:
        getattr(signals, name).disconnect(handler, dispatch_uid=f"wegent.telemetry.{name}")
    _celery_spans.clear()


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Runs the block outside any trace (work shared by many traces, e.g. a batch of writes)."""
    if _tracer is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(otel_context.Context())
    try:
        yield
    finally:
        otel_context.detach(token)
