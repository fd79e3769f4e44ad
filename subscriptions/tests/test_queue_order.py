"""Beat's fires are taken before the runs already queued, on the broker this leg uses.

A worker consumes the ``schedule`` queue (subscription fires) and the default queue (runs and
everything else). A fire due now must not wait behind the runs earlier fires queued, or 100
fires due in one minute miss the fire latency target. The messages go through the app's own
routing (``send_task``) to the real broker: the embedded in-memory transport on the SQLite leg,
Redis on the others; a kombu consumer with the worker's queues and a prefetch of one takes them.
"""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Consumer

from wegent.celery import app


def _taken_in_order(count: int) -> list[str]:
    names: list[str] = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel

        def on_message(_body: Any, message: Any) -> None:
            names.append(message.headers["task"])
            message.ack()

        queues = list(app.amqp.queues.consume_from.values()) or list(app.amqp.queues.values())
        with Consumer(channel, queues=queues, callbacks=[on_message], accept=["json"], prefetch_count=1):
            while len(names) < count:
                connection.drain_events(timeout=10)
    return names


def test_fires_route_to_the_schedule_queue_and_runs_to_the_default() -> None:
    router = app.amqp.router
    assert router.route({}, "subscriptions.fire")["queue"].name == "schedule"
    assert router.route({}, "subscriptions.run_execution")["queue"].name == "celery"
    assert [queue.name for queue in app.amqp.queues.values()][:2] == ["schedule", "celery"]


# The tests run tasks eagerly; these messages are meant for the broker.
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_fires_are_taken_before_queued_runs() -> None:
    app.control.purge()
    with app.producer_or_acquire() as producer:
        for batch in range(2):
            for run in range(5):
                app.send_task("subscriptions.run_execution", args=[batch * 10 + run], producer=producer)
            app.send_task("subscriptions.fire", args=[batch], producer=producer)
    taken = _taken_in_order(12)
    # Both fires first although each was queued after five runs; taking from the queues in turn
    # would hand out a run second.
    assert taken[:2] == ["subscriptions.fire", "subscriptions.fire"], taken
    assert taken[2:] == ["subscriptions.run_execution"] * 10
