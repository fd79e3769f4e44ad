"""``lifecycle.update_subtasks``: many answers ended in one go (streams that end together), each
refused on its own, and the tasks' statuses derived from their newest answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks import statuses
from tasks.exceptions import InvalidTransition, SubtaskNotFound
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle

pytestmark = pytest.mark.django_db(transaction=True)


def running_answers(user, team, make_task, count: int) -> list[Subtask]:  # type: ignore[no-untyped-def]
    answers = []
    for i in range(count):
        answer = make_task(user, team, prompt=f"q{i}", answer=None).assistant_subtask
        assert lifecycle.claim_subtask(answer.pk, "test-worker")
        answers.append(answer)
    return answers


def completions(answers: list[Subtask]) -> list[tuple[int, lifecycle.SubtaskChanges]]:
    return [
        (a.pk, lifecycle.SubtaskChanges(status=statuses.COMPLETED, result={"value": f"answer {a.pk}"}))
        for a in answers
    ]


def test_a_batch_ends_every_answer_and_every_task_in_a_fixed_number_of_reads(user, team, make_task):  # type: ignore[no-untyped-def]
    four, eight = running_answers(user, team, make_task, 4), running_answers(user, team, make_task, 8)

    with CaptureQueriesContext(connection) as small:
        lifecycle.update_subtasks(completions(four))
    with CaptureQueriesContext(connection) as large:
        results = lifecycle.update_subtasks(completions(eight))

    # Four more answers cost four more message updates and four more task updates, nothing else.
    assert len(large.captured_queries) - len(small.captured_queries) == 8
    assert [row.pk for row in results] == [a.pk for a in eight]  # type: ignore[union-attr]
    for answer in four + eight:
        row = Subtask.objects.get(pk=answer.pk)
        assert (row.status, row.progress, row.result) == ("COMPLETED", 100, {"value": f"answer {answer.pk}"})
        assert row.completed_at is not None
        task = TaskResource.objects.get(pk=answer.task_id)
        assert task.status == "COMPLETED" and task.state["result"] == {"value": f"answer {answer.pk}"}


def test_each_update_is_refused_on_its_own(user, team, make_task):  # type: ignore[no-untyped-def]
    done, running = running_answers(user, team, make_task, 2)
    lifecycle.update_subtask(done.pk, lifecycle.SubtaskChanges(status=statuses.COMPLETED))

    results = lifecycle.update_subtasks(
        [
            (999_999, lifecycle.SubtaskChanges(status=statuses.FAILED)),
            (done.pk, lifecycle.SubtaskChanges(status=statuses.RUNNING)),
            (running.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="model timed out")),
        ]
    )

    assert isinstance(results[0], SubtaskNotFound)
    assert isinstance(results[1], InvalidTransition)
    assert Subtask.objects.get(pk=done.pk).status == "COMPLETED"
    assert Subtask.objects.get(pk=running.pk).status == "FAILED"
    task = TaskResource.objects.get(pk=running.task_id)
    assert task.status == "FAILED" and task.state["errorMessage"] == "model timed out"


def test_the_task_follows_its_newest_answer_whatever_the_batch_order(user, team, make_task):  # type: ignore[no-untyped-def]
    first = make_task(user, team, prompt="q1")  # answered
    second = make_task(user, team, task_id=first.task.pk, prompt="q2", answer=None)
    assert lifecycle.claim_subtask(second.assistant_subtask.pk, "test-worker")
    # An older answer still running (a worker that died mid-stream, say), ended in the same
    # batch after the newest one: the older one must not decide the task's status.
    Subtask.objects.filter(pk=first.assistant_subtask.pk).update(status=statuses.RUNNING)

    lifecycle.update_subtasks(
        [
            (
                second.assistant_subtask.pk,
                lifecycle.SubtaskChanges(status="COMPLETED", result={"value": "new"}),
            ),
            (first.assistant_subtask.pk, lifecycle.SubtaskChanges(status="FAILED", error_message="lost")),
        ]
    )

    task = TaskResource.objects.get(pk=first.task.pk)
    assert task.status == "COMPLETED" and task.state["result"] == {"value": "new"}


def test_two_updates_of_one_message_apply_in_order(user, team, make_task):  # type: ignore[no-untyped-def]
    (answer,) = running_answers(user, team, make_task, 1)

    results = lifecycle.update_subtasks(
        [
            (answer.pk, lifecycle.SubtaskChanges(result={"value": "so far"})),
            (answer.pk, lifecycle.SubtaskChanges(status=statuses.CANCELLED)),
            (answer.pk, lifecycle.SubtaskChanges(status=statuses.COMPLETED)),
        ]
    )

    assert isinstance(results[2], InvalidTransition)
    row = Subtask.objects.get(pk=answer.pk)
    assert (row.status, row.result) == ("CANCELLED", {"value": "so far"})
    assert TaskResource.objects.get(pk=answer.task_id).status == "CANCELLED"
