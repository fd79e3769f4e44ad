"""The embedded mode's broker: kombu's in-memory transport, taking from the queues in order.

kombu's virtual transports take from a worker's queues in turn (one message from each), so a
subscription fire would wait behind the runs queued before it. With Redis the same order comes
from ``queue_order_strategy: priority``; this transport gives the in-memory broker that order:
every take tries the queues as the worker lists them (``CELERY_TASK_QUEUES``, schedule first).
"""

from __future__ import annotations

from queue import Empty
from typing import Any

from kombu.transport import memory
from kombu.utils.scheduling import FairCycle


class InOrderCycle(FairCycle):
    """Takes from the first resource that has a message, always starting from the first."""

    def get(self, callback: Any, **kwargs: Any) -> Any:
        for resource in list(self.resources):
            try:
                return self.fun(resource, callback, **kwargs)
            except self.predicate:
                continue
        raise self.predicate()


class Channel(memory.Channel):
    def _reset_cycle(self) -> None:
        self._cycle = InOrderCycle(self._get_and_deliver, self._active_queues, Empty)


class Transport(memory.Transport):
    Channel = Channel
