"""Celery tasks of subscriptions: beat's fire of one subscription, and running an execution."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import transaction

from subscriptions import statuses
from subscriptions.services import executions, runs


@shared_task(name="subscriptions.fire", acks_late=True, ignore_result=True)
def fire(subscription_id: int) -> int | None:
    """Beat's fire of one due subscription: its one execution (a duplicate makes none), whose
    run is its own message, so fires due together are not held up behind each other's runs."""
    execution = executions.fire_scheduled(int(subscription_id))
    if execution is None:
        return None
    if execution.status == statuses.PENDING:
        dispatch(execution.pk)
    return execution.pk


@shared_task(name="subscriptions.run_execution", acks_late=True, ignore_result=True)
def run_execution(execution_id: int) -> str:
    return _run(int(execution_id))


def _run(execution_id: int) -> str:
    status = runs.run(execution_id)
    if status == statuses.RETRYING:
        # The next attempt after a pause (the reference backs off 60 s and more).
        run_execution.apply_async(args=[execution_id], countdown=settings.SUBSCRIPTION_RETRY_DELAY_SECONDS)
    return status


@shared_task(name="subscriptions.recover_stale", ignore_result=True)
def recover_stale() -> dict[str, int]:
    """Stale executions (reference §2.5): PENDING ones queued again, RUNNING ones failed."""
    recovered = executions.recover_stale(
        pending_hours=settings.SUBSCRIPTION_STALE_PENDING_HOURS,
        running_hours=settings.SUBSCRIPTION_STALE_RUNNING_HOURS,
    )
    for execution_id in recovered.requeued:
        run_execution.delay(execution_id)
    return {"requeued": len(recovered.requeued), "failed": recovered.failed, "cancelled": recovered.cancelled}


def dispatch(execution_id: int) -> None:
    """Queues the run once the execution is committed."""
    transaction.on_commit(lambda: run_execution.delay(execution_id))
