"""Tasks and messages for any app's tests (plain functions; fixtures in conftest.py)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from kinds.models import Kind, ResourceMember
from tasks import documents, statuses
from tasks.models import Project, Subtask, TaskResource
from tasks.services import lifecycle, projects, turns


def make_task(
    actor: User,
    team: Kind,
    prompt: str = "hello",
    answer: str | None = "hi",
    task_id: int | None = None,
    **options: Any,
) -> turns.Turn:
    """Starts a turn through the services. With ``answer`` the assistant message is completed
    with that text; with None it stays PENDING."""
    turn = turns.start_turn(
        actor=actor,
        task_id=task_id,
        options=turns.TurnOptions(prompt=prompt, team_id=team.pk, **options),
    )
    if answer is not None and turn.assistant_subtask is not None:
        complete(turn.assistant_subtask, answer)
    turn.task.refresh_from_db()
    return turn


def complete(answer: Subtask, text: str) -> Subtask:
    """Ends an answer as the runner would: claimed, then COMPLETED with ``text``."""
    lifecycle.claim_subtask(answer.pk, "test-worker")
    return lifecycle.update_subtask(
        answer.pk, lifecycle.SubtaskChanges(status=statuses.COMPLETED, result={"value": text})
    )


def reload(task: TaskResource) -> TaskResource:
    task.refresh_from_db()
    return task


def group_chat_with(task: TaskResource, member: User) -> TaskResource:
    """Makes ``task`` a group chat with ``member`` approved in it."""
    task.document = documents.changed(task.document, spec={"is_group_chat": True})
    task.save()
    ResourceMember.objects.create(resource_type="Task", resource_id=task.pk, user=member, status="approved")
    return task


def quiet_message(member: User, task: TaskResource, prompt: str) -> turns.Turn:
    """A group-chat message from ``member`` that asks no AI answer."""
    return turns.start_turn(
        actor=member, task_id=task.pk, options=turns.TurnOptions(prompt=prompt, with_answer=False)
    )


def make_project(actor: User, name: str = "Folder", **fields: Any) -> Project:
    """A project (task folder) of ``actor``, made by the service."""
    return projects.create_project(actor=actor, changes=projects.ProjectChanges(name=name, **fields))
