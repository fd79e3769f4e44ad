"""Pipeline teams run by executors (a device or the executor manager).

When a stage's answer completes, the pipeline moves on by itself: the next stage's answer is
written (PENDING, its prompt the finished stage's output) and goes where the task runs: to the
task's device through the ``tasks.answer_starters`` hook (``devices.hooks``), or to the executor
manager (its poll in pull mode, the task-changed hook in push mode). A stage whose member has
``requireConfirmation`` stops there instead (PENDING_CONFIRMATION) until the owner confirms it
(``POST /api/tasks/{id}/confirm-stage``, tasks app), which writes and starts the next stage the
same way. The last stage's ending ends the task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tasks import selectors as task_selectors
from tasks import statuses
from tasks.models import Subtask
from tasks.services import extras, lifecycle, turns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageEnd:
    """How a completed executor answer ends: its status, and the next stage's answer when the
    pipeline moved on (written PENDING, started once the transaction commits)."""

    status: str
    next_answer: Subtask | None = None


def end_of(row: Subtask, ending: str, output: str) -> StageEnd:
    """The ending of ``row`` (an executor's answer, RUNNING) that reports ``ending``.

    Call it inside the transaction that ends ``row``, before ending it: the next stage's answer
    is then the task's newest one when the task's status is derived, so the task goes RUNNING ->
    PENDING -> RUNNING and never shows COMPLETED (nor ends a subscription's run) between stages.
    """
    if ending != statuses.COMPLETED:
        return StageEnd(ending)
    task = row.task
    team = turns.team_of(task)
    if not extras.is_pipeline(team):
        return StageEnd(ending)
    assert team is not None
    stages = extras.team_stages(team)
    current = extras.stage_info(task, stages).current
    if current >= len(stages) - 1:
        return StageEnd(ending)  # the last stage: the task ends with it
    if stages[current].require_confirmation:
        return StageEnd(statuses.PENDING_CONFIRMATION)
    stage = stages[current + 1]
    if stage.bot is None:
        logger.warning("pipeline of task %s stops: the bot of stage %s is gone", task.pk, stage.name)
        return StageEnd(ending)
    question = task_selectors.user_message_before(task, row.message_id)
    written = turns.add_team_answer(task, team, stage.bot, parent_id=question, prompt=output)
    # Executor path titles; the executor that ran the stage runs the next one (same session).
    answer = lifecycle.update_subtask(
        written.pk,
        lifecycle.SubtaskChanges(
            title=f"{task.spec.get('title') or ''} - {stage.bot.name}",
            executor_name=row.executor_name,
            executor_namespace=row.executor_namespace,
        ),
    )
    lifecycle.start_answer_after_commit(task, answer)
    return StageEnd(statuses.COMPLETED, answer)
