"""Pipeline teams run by executors: a stage whose member has ``requireConfirmation`` waits for
the owner (PENDING_CONFIRMATION) when its answer completes; the stage the owner confirms
(``POST /api/tasks/{id}/confirm-stage``, tasks app) reaches the device through the
``tasks.answer_starters`` hook (``devices.hooks``), or waits for the executor manager."""

from __future__ import annotations

from tasks import statuses
from tasks.models import Subtask
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
