"""Retries of a run that failed unexpectedly, and the stale-execution sweep (reference §2.5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from subscriptions import statuses
from subscriptions.models import BackgroundExecution
from subscriptions.services import executions, runs
from subscriptions.services import subscriptions as service
from subscriptions.tasks import recover_stale, run_execution
from subscriptions.tests.factories import make_subscription

pytestmark = pytest.mark.django_db(transaction=True)


def _break_once(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    real = runs.answer_for

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker lost its footing")
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "answer_for", flaky)
    return calls


def test_an_unexpected_error_is_retried_up_to_retry_count(user, chat_team, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = _break_once(monkeypatch)
    sub = make_subscription(user, chat_team, retry_count=1)
    execution = executions.trigger_now(sub)
    run_execution.apply(args=[execution.pk])
    execution.refresh_from_db()
    assert len(calls) == 2
    assert execution.status == statuses.COMPLETED and execution.retry_attempt == 1


def test_without_retries_an_unexpected_error_fails_the_run(user, chat_team, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = _break_once(monkeypatch)
    sub = make_subscription(user, chat_team)
    execution = executions.trigger_now(sub)
    run_execution.apply(args=[execution.pk])
    execution.refresh_from_db()
    assert len(calls) == 1
    assert execution.status == statuses.FAILED and execution.error_message == "Internal server error"


def test_a_team_that_is_gone_fails_the_run_without_retrying(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team, retry_count=3)
    type(chat_team).objects.filter(pk=chat_team.pk).update(is_active=False)
    execution = executions.trigger_now(sub)
    run_execution.apply(args=[execution.pk])
    execution.refresh_from_db()
    assert execution.status == statuses.FAILED and "team" in execution.error_message


def _age(execution: BackgroundExecution, hours: float) -> None:
    BackgroundExecution.objects.filter(pk=execution.pk).update(
        updated_at=timezone.now() - timedelta(hours=hours)
    )


def test_stale_sweep_requeues_pending_fails_running_cancels_orphans(user, chat_team) -> None:  # type: ignore[no-untyped-def]
    sub = make_subscription(user, chat_team)
    old_pending = executions.trigger_now(sub)
    _age(old_pending, 3)
    fresh_pending = executions.trigger_now(sub)
    stuck = executions.transition(executions.trigger_now(sub), statuses.RUNNING)
    _age(stuck, 4)
    gone = make_subscription(user, chat_team, name="gone")
    orphan = executions.trigger_now(gone)
    _age(orphan, 3)
    service.delete(actor=user, subscription_id=gone.pk)

    result = recover_stale.apply().result
    assert result == {"requeued": 1, "failed": 1, "cancelled": 1}
    statuses_now = {e.pk: e.status for e in BackgroundExecution.objects.all()}
    assert statuses_now[old_pending.pk] == statuses.COMPLETED  # run again by the requeue
    assert statuses_now[fresh_pending.pk] == statuses.PENDING
    assert statuses_now[stuck.pk] == statuses.FAILED
    assert statuses_now[orphan.pk] == statuses.CANCELLED
