"""A subscription run's Celery task continues the trace of whoever queued it (the traceparent
in the message headers), and the answer it streams nests inside: eagerly (the test default) and
on the real worker of test_celery.py (the in-process worker on the memory broker, or Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from subscriptions.models import BackgroundExecution
from subscriptions.tests.factories import make_subscription
from subscriptions.tests.test_celery import embedded  # noqa: F401 - the real worker fixture
from wegent import telemetry
from wegent.tests.tracing import Recorder, parent_id, recording

pytestmark = pytest.mark.django_db(transaction=True)
RUN = "celery.run subscriptions.run_execution"


@pytest.fixture
def spans() -> Iterator[Recorder]:
    with recording() as exporter:
        yield exporter


def _ancestry(spans: Recorder, span) -> list[str]:  # type: ignore[no-untyped-def]
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    names = []
    while span is not None:
        names.append(span.name)
        span = by_id.get(parent_id(span))
    return names


def _check(spans: Recorder, caller_name: str) -> None:
    [run] = spans.wait_for(RUN)
    [answer] = spans.wait_for("chat.answer")
    [caller] = spans.named(caller_name)
    assert run.context.trace_id == caller.context.trace_id == answer.context.trace_id
    assert parent_id(run) == caller.context.span_id
    assert _ancestry(spans, answer)[-2:] == [RUN, caller_name]
    assert answer.attributes[telemetry.FINISH_REASON] == "completed"
    assert run.attributes["celery.state"] == "SUCCESS"


def test_an_eager_run_joins_the_callers_trace(spans, api, user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team)
    with telemetry.span("caller"):
        response = api.post(f"/api/subscriptions/{sub.pk}/trigger")
    assert response.status_code == 200, response.content
    _check(spans, "caller")


def test_a_worker_run_joins_the_callers_trace(spans, embedded, api, user, chat_team) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    sub = make_subscription(user, chat_team)
    embedded()
    with telemetry.span("caller"):
        response = api.post(f"/api/subscriptions/{sub.pk}/trigger")
    assert response.status_code == 200, response.content
    _check(spans, "caller")
    assert BackgroundExecution.objects.get(pk=response.json()["id"]).status == "COMPLETED"
