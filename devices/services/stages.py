"""Pipeline teams run by executors: a stage whose member has ``requireConfirmation`` waits for
the owner (PENDING_CONFIRMATION) when its answer completes, and the stage the owner confirms
(``POST /api/tasks/{id}/confirm-stage``, tasks app) goes to the task's device again."""

from __future__ import annotations

from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import extras, turns


def ending_status(row: Subtask, ending: str) -> str:
    """The status a completed executor answer takes: PENDING_CONFIRMATION for a pipeline stage
    that asks for a confirmation (and is not the last stage), else ``ending``."""
    if ending != statuses.COMPLETED:
        return ending
    team = turns.team_of(row.task)
    if not extras.is_pipeline(team):
        return ending
    assert team is not None
    stages = extras.team_stages(team)
    current = extras.stage_info(row.task, stages).current
    if current < len(stages) - 1 and stages[current].require_confirmation:
        return statuses.PENDING_CONFIRMATION
    return ending


def confirmed_stage_answer(task: TaskResource) -> Subtask | None:
    """The PENDING answer a stage confirmation just made for a task that runs on a device."""
    if task.status != statuses.PENDING or not task.spec.get("device_id"):
        return None
    answer = (
        Subtask.objects.filter(task_id=task.pk, role=Subtask.ASSISTANT, status=statuses.PENDING)
        .order_by("-message_id")
        .first()
    )
    if (
        answer is None
        or not isinstance(answer.result, dict)
        or not answer.result.get("from_stage_confirmation")
    ):
        return None
    return answer
