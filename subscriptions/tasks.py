"""Celery tasks of subscriptions: beat's fire of one subscription, and running an execution."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from subscriptions.services import executions, runs


@shared_task(name="subscriptions.fire", acks_late=True, ignore_result=True)
def fire(subscription_id: int) -> int | None:
    """Beat's fire of one due subscription: its one execution (a duplicate makes none), run."""
    execution = executions.fire_scheduled(int(subscription_id))
    if execution is None:
        return None
    runs.run(execution.pk)
    return execution.pk


@shared_task(name="subscriptions.run_execution", acks_late=True, ignore_result=True)
def run_execution(execution_id: int) -> str:
    return runs.run(int(execution_id))


def dispatch(execution_id: int) -> None:
    """Queues the run once the execution is committed."""
    transaction.on_commit(lambda: run_execution.delay(execution_id))
