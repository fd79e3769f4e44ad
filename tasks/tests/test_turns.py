"""Creating tasks and appending turns through the service."""

from __future__ import annotations

import pytest

from tasks import statuses
from tasks.models import PLACEHOLDER, Subtask, TaskResource
from tasks.services import turns
from tasks.tests.factories import complete, group_chat_with, quiet_message

pytestmark = pytest.mark.django_db


def test_new_task_creates_task_workspace_and_two_messages(user, team, make_task):
    turn = make_task(user, team, prompt="What is up?", answer=None)
    task = turn.task
    assert task.kind == "Task" and task.name == f"task-{task.pk}" and task.is_active
    assert task.status == statuses.PENDING and task.listed
    assert task.spec["teamRef"] == {"name": team.name, "namespace": "default", "user_id": user.pk}
    workspace = TaskResource.objects.get(kind="Workspace", name=f"workspace-{task.pk}")
    assert workspace.owner_id == user.pk
    rows = list(Subtask.objects.filter(task=task).order_by("message_id"))
    assert [(r.role, r.message_id, r.parent_id, r.status) for r in rows] == [
        ("USER", 1, 0, "COMPLETED"),
        ("ASSISTANT", 2, 1, "PENDING"),
    ]


def test_completed_answer_completes_task_and_append_numbers_on(user, team, make_task):
    turn = make_task(user, team, prompt="one", answer="first")
    assert turn.task.status == statuses.COMPLETED
    assert turn.task.state["result"] == {"value": "first"}
    second = turns.start_turn(actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="two"))
    assert second.user_subtask.message_id == 3 and second.assistant_subtask.message_id == 4
    second.task.refresh_from_db()
    assert second.task.status == statuses.PENDING and second.task.spec["prompt"] == "two"


def test_reserved_id_is_stable_until_used(user, team, make_task):
    first = turns.reserve_task_id(user)
    assert turns.reserve_task_id(user) == first
    assert TaskResource.objects.get(pk=first).kind == PLACEHOLDER
    turn = make_task(user, team, task_id=first)
    assert turn.task.pk == first and turn.task.kind == "Task"
    assert turns.reserve_task_id(user) != first


def test_append_while_answer_pending_is_refused(user, team, make_task):
    turn = make_task(user, team, answer=None)
    with pytest.raises(turns.TaskBusy):
        turns.start_turn(actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="again"))
    assert Subtask.objects.filter(task=turn.task).count() == 2


def test_complete_helper(user, team, make_task):
    turn = make_task(user, team, answer=None)
    complete(turn.assistant_subtask, "done")
    turn.task.refresh_from_db()
    assert turn.task.status == "COMPLETED"


def test_chat_path_rows_and_group_messages(user, other_user, team, make_task):
    first = make_task(user, team, prompt="hi", answer="hello!", path="chat", source="chat_shell")
    rows = list(Subtask.objects.filter(task=first.task).order_by("message_id"))
    assert [(r.title, r.progress, r.sender_type) for r in rows] == [
        ("User message", 100, "USER"),
        ("Assistant response", 100, "TEAM"),
    ]
    assert first.task.labels["source"] == "chat_shell"
    # A group-chat message without an answer: stored and sent by a member, no AI reply.
    task = group_chat_with(first.task, other_user)
    quiet = quiet_message(other_user, task, "just chatting")
    assert quiet.assistant_subtask is None and quiet.user_subtask.sender_user_id == other_user.pk
    assert quiet.user_subtask.user_id == user.pk  # messages belong to the conversation's owner
    task.refresh_from_db()
    assert task.status == statuses.COMPLETED


def test_chat_path_allows_follow_up_without_expiry(user, team, make_task):
    import datetime as dt

    from django.utils import timezone

    turn = make_task(user, team, path="chat", source="chat_shell")
    TaskResource.objects.filter(pk=turn.task.pk).update(updated_at=timezone.now() - dt.timedelta(days=3))
    again = turns.start_turn(
        actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="more", path="chat")
    )
    assert again.user_subtask.message_id == 3 and again.assistant_subtask.parent_id == 3


def test_illegal_subtask_transitions_are_refused(user, team, make_task):
    from tasks.exceptions import InvalidTransition
    from tasks.services import lifecycle

    answer = make_task(user, team).assistant_subtask
    with pytest.raises(InvalidTransition):
        lifecycle.update_subtask(answer.pk, lifecycle.SubtaskChanges(status=statuses.RUNNING))
    failed = make_task(user, team, answer=None).assistant_subtask
    lifecycle.update_subtask(
        failed.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="boom")
    )
    assert TaskResource.objects.get(pk=failed.task_id).state["errorMessage"] == "boom"
    # A failed answer may be retried in place.
    lifecycle.update_subtask(failed.pk, lifecycle.SubtaskChanges(status=statuses.PENDING))
    assert TaskResource.objects.get(pk=failed.task_id).status == statuses.PENDING


def test_reset_answer_clears_the_ended_answer_for_a_retry(user, team, make_task):
    from tasks.exceptions import InvalidTransition
    from tasks.services import lifecycle

    answer = make_task(user, team, answer=None).assistant_subtask
    ended = lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="boom", result={"value": "par"})
    lifecycle.update_subtask(answer.pk, ended)

    reset = lifecycle.reset_answer(answer.pk)

    stored = Subtask.objects.get(pk=answer.pk)
    for row in (reset, stored):
        assert (row.status, row.progress, row.error_message) == (statuses.PENDING, 0, "")
        assert row.result is None and row.completed_at is None
    assert TaskResource.objects.get(pk=answer.task_id).status == statuses.PENDING
    # A completed answer is not retried: nothing changes.
    done = make_task(user, team, answer="fine").assistant_subtask
    with pytest.raises(InvalidTransition):
        lifecycle.reset_answer(done.pk)
    assert Subtask.objects.get(pk=done.pk).result == {"value": "fine"}


def test_a_message_in_a_subscription_task_lists_it(user, other_user, team, make_task):
    from tasks.exceptions import TaskNotFound

    task = make_task(user, team, type="subscription").task
    assert not task.listed
    with pytest.raises(TaskNotFound):
        turns.mark_user_interacted(actor=other_user, task=task)
    assert not TaskResource.objects.get(pk=task.pk).listed

    turns.mark_user_interacted(actor=user, task=task)

    stored = TaskResource.objects.get(pk=task.pk)
    assert stored.listed and stored.labels["userInteracted"] == "true"
    chat = make_task(user, team).task
    turns.mark_user_interacted(actor=user, task=chat)
    assert "userInteracted" not in TaskResource.objects.get(pk=chat.pk).labels
