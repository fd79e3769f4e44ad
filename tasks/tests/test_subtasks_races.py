"""Message edits under concurrency, with real threads on real connections (each leg's database).

An edit holds the task row lock while it removes messages, so two edits of one message cannot
both remove it, and a turn racing an edit either comes after it or makes it refuse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tasks.models import Subtask
from tasks.services import messages, turns
from wegent.errors import DomainError

pytestmark = pytest.mark.django_db(transaction=True)


def race(actions: list[Callable[[], Any]]) -> list[Any]:
    """Runs the actions in threads released at once; returns their results or domain errors."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = actions[index]()
        except DomainError as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def numbers(task_id: int) -> list[int]:
    return list(
        Subtask.objects.filter(task_id=task_id).order_by("message_id").values_list("message_id", flat=True)
    )


def test_racing_edits_of_one_message_remove_it_once(user, team, make_task):
    turn = make_task(user, team, prompt="q1")
    second = make_task(user, team, task_id=turn.task.pk, prompt="q2")
    target = second.user_subtask.pk

    def edit() -> messages.EditResult:
        return messages.edit_message(actor=user, subtask_id=target, new_content="again")

    results = race([edit, edit, edit])
    done = [r for r in results if isinstance(r, messages.EditResult)]
    assert len(done) == 1 and done[0].deleted_count == 2, results
    assert all(isinstance(r, messages.MessageNotFound) for r in results if r not in done)
    assert numbers(turn.task.pk) == [1, 2]


def test_a_turn_racing_an_edit_leaves_one_consistent_conversation(user, team, make_task):
    turn = make_task(user, team, prompt="q1")
    second = make_task(user, team, task_id=turn.task.pk, prompt="q2")

    def edit() -> messages.EditResult:
        return messages.edit_message(actor=user, subtask_id=second.user_subtask.pk, new_content="q2'")

    def append() -> turns.Turn:
        return turns.start_turn(actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="q3"))

    edited, appended = race([edit, append])
    assert isinstance(appended, turns.Turn), appended
    if isinstance(edited, messages.EditResult):
        # The edit went first: the new turn took the numbers the edit freed.
        assert numbers(turn.task.pk) == [1, 2, 3, 4]
        assert Subtask.objects.get(task_id=turn.task.pk, message_id=3).prompt == "q3"
    else:
        # The turn went first: its answer is pending, so the edit is refused and removes nothing.
        assert str(edited) == "Cannot edit while AI is generating a response"
        assert numbers(turn.task.pk) == [1, 2, 3, 4, 5, 6]
