"""Concurrency rules, run with real threads on real connections (each leg's database).

Two appends racing on one task cannot both succeed; two workers cannot both claim one answer;
two creates on one reserved id make one task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.errors import DomainError

pytestmark = pytest.mark.django_db(transaction=True)
RACERS = 4


def race(action: Callable[[int], Any], racers: int = RACERS) -> list[Any]:
    """Runs ``action(i)`` in ``racers`` threads released at once; returns results or errors."""
    barrier = threading.Barrier(racers)
    results: list[Any] = [None] * racers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action(index)
        except DomainError as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_racing_appends_only_one_wins(user, team, make_task):
    task = make_task(user, team).task

    def append(index: int) -> turns.Turn:
        return turns.start_turn(
            actor=user, task_id=task.pk, options=turns.TurnOptions(prompt=f"racer {index}")
        )

    results = race(append)
    winners = [r for r in results if isinstance(r, turns.Turn)]
    assert len(winners) == 1, results
    assert all(isinstance(r, turns.TaskBusy) for r in results if r not in winners)
    assert Subtask.objects.filter(task=task).count() == 4
    assert sorted(Subtask.objects.filter(task=task).values_list("message_id", flat=True)) == [1, 2, 3, 4]


def test_racing_claims_only_one_wins(user, team, make_task):
    answer = make_task(user, team, answer=None).assistant_subtask
    results = race(lambda index: lifecycle.claim_subtask(answer.pk, f"worker-{index}"))
    assert sorted(results) == [False] * (RACERS - 1) + [True]
    answer.refresh_from_db()
    assert answer.status == "RUNNING" and answer.worker_id.startswith("worker-")
    assert TaskResource.objects.get(pk=answer.task_id).status == "RUNNING"


def test_racing_creates_on_one_reserved_id_make_one_task(user, team):
    task_id = turns.reserve_task_id(user)

    def create(index: int) -> turns.Turn:
        options = turns.TurnOptions(prompt=f"racer {index}", team_id=team.pk)
        return turns.start_turn(actor=user, task_id=task_id, options=options)

    results = race(create)
    winners = [r for r in results if isinstance(r, turns.Turn)]
    assert len(winners) == 1, results
    assert TaskResource.objects.filter(kind="Task").count() == 1
    assert TaskResource.objects.filter(kind="Workspace").count() == 1
    assert Subtask.objects.filter(task_id=task_id).count() == 2
