"""The smaller task routes: skills, pipeline stages (info and confirmation), the preserve-executor
flag and the task's services (``status.app``).

Reads are open to the owner and approved members; writes to the owner only (404 "Task not
found" for anyone else, as for someone else's task).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.specs import read
from kinds.specs.team import TeamView
from tasks import documents, selectors, shapes, statuses
from tasks.exceptions import TaskNotFound
from tasks.models import TASK, Subtask, TaskResource
from tasks.services import events, lifecycle, turns
from wegent.errors import BadRequest, NotFound

CONTINUE, RETRY = "continue", "retry"
NOT_A_PIPELINE: dict[str, Any] = {
    "current_stage": 0,
    "total_stages": 1,
    "current_stage_name": "default",
    "is_pending_confirmation": False,
    "stages": [],
}
# Message status -> the stage status the web client knows.
_STAGE_STATUS = {
    statuses.COMPLETED: "completed",
    statuses.RUNNING: "running",
    statuses.PENDING: "pending",
    statuses.PENDING_CONFIRMATION: "pending_confirmation",
    statuses.FAILED: "failed",
    # A stopped stage must be run again, as a failed one.
    statuses.CANCELLED: "failed",
}
_FINISHED = frozenset({"completed", "pending_confirmation"})


def locked_owned_task(actor: User, task_id: int) -> TaskResource:
    """The caller's own active task, locked for the rest of the transaction; else 404."""
    if not 0 < task_id <= selectors.MAX_ID:
        raise TaskNotFound()
    task = TaskResource.objects.select_for_update().filter(pk=task_id, kind=TASK, is_active=True).first()
    if task is None or task.owner_id != actor.pk:
        raise TaskNotFound()
    return task


# --- skills ---------------------------------------------------------------------------------------


def additional_skills(task: TaskResource) -> list[str]:
    """Names in the ``additionalSkills`` label (a JSON list); anything malformed counts as none."""
    raw = task.labels.get("additionalSkills")
    if not isinstance(raw, str) or not raw:
        return []
    try:
        names = json.loads(raw)
    except ValueError:
        return []
    return list(read.strings(names))


def task_skills(*, actor: User, task_id: int) -> dict[str, Any]:
    """Skills of the ghosts of the task's team bots, plus the skills chosen for the task."""
    task = selectors.accessible_task(actor, task_id)
    extra = additional_skills(task)
    team = turns.team_of(task)
    if team is None:
        ref = task.spec.get("teamRef")
        namespace = ref.get("namespace") if isinstance(ref, dict) else None
        return {
            "task_id": task.pk,
            "team_id": None,
            "team_namespace": namespace or DEFAULT_NAMESPACE,
            "skills": kind_selectors.dedupe(extra),
            "preload_skills": [],
        }
    skills, preload = kind_selectors.TeamContext([team]).skills(team)
    return {
        "task_id": task.pk,
        "team_id": team.pk,
        "team_namespace": team.namespace,
        "skills": kind_selectors.dedupe([*skills, *extra]),
        "preload_skills": preload,
    }


# --- pipeline stages ----------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    require_confirmation: bool
    bot: Kind | None


@dataclass
class StageInfo:
    stages: list[Stage]
    statuses: list[str]
    current: int
    pending_confirmation: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "current_stage": self.current,
            "total_stages": len(self.stages),
            "current_stage_name": self.stages[self.current].name,
            "is_pending_confirmation": self.pending_confirmation,
            "stages": [
                {
                    "index": index,
                    "name": stage.name,
                    "require_confirmation": stage.require_confirmation,
                    "status": self.statuses[index],
                }
                for index, stage in enumerate(self.stages)
            ],
        }


def is_pipeline(team: Kind | None) -> bool:
    return team is not None and TeamView.of(team.spec).collaboration_model == turns.PIPELINE


def team_stages(team: Kind) -> list[Stage]:
    """One stage per team member, in order, with the member's bot as the team owner sees it."""
    bots = kind_selectors.team_bots([team])
    return [
        Stage(
            name=member.bot_name,
            require_confirmation=member.require_confirmation,
            bot=bots.resolve("Bot", member.bot_ref, team.owner_id),
        )
        for member in TeamView.of(team.spec).members
    ]


def _latest_turn_answers(task: TaskResource) -> list[tuple[list[Any], str]]:
    """(bot_ids, status) of the answers after the newest user message, oldest first."""
    last_user = Subtask.objects.filter(task=task, role=Subtask.USER).aggregate(last=Max("message_id"))["last"]
    rows = Subtask.objects.filter(task=task, role=Subtask.ASSISTANT).exclude(status=statuses.DELETE)
    if last_user is not None:
        rows = rows.filter(message_id__gt=last_user)
    return [
        (bot_ids if isinstance(bot_ids, list) else [], status)
        for bot_ids, status in rows.order_by("message_id", "id").values_list("bot_ids", "status")
    ]


def _stage_of(bot_ids: list[Any], stages: list[Stage], after: int) -> int | None:
    """The stage an answer belongs to: the first stage of its bot at or after ``after`` (the
    same bot may serve several stages), else the first stage of its bot."""
    bot_id = bot_ids[0] if bot_ids else None
    candidates = [i for i, stage in enumerate(stages) if stage.bot is not None and stage.bot.pk == bot_id]
    if not candidates:
        return None
    return next((i for i in candidates if i >= after), candidates[0])


def stage_info(task: TaskResource, stages: list[Stage]) -> StageInfo:
    """Where a pipeline stands, from the latest turn's answers (which bot each one targets).

    Stages before the first one answered in this turn count as completed (a turn may start
    mid-pipeline); the current stage is the first one not completed. While the task awaits a
    confirmation, the current stage is the one that has just finished.
    """
    found: dict[int, str] = {}
    last = 0
    for bot_ids, status in _latest_turn_answers(task):
        index = _stage_of(bot_ids, stages, last)
        if index is not None:
            found[index] = _STAGE_STATUS.get(status, "pending")
            last = index
    first_seen = min(found, default=0)
    shown = [
        found.get(index, "completed" if index < first_seen else "pending") for index in range(len(stages))
    ]
    waiting = task.status == statuses.PENDING_CONFIRMATION
    if waiting:
        finished = [index for index, status in enumerate(shown) if status in _FINISHED]
        current = finished[-1] if finished else 0
        shown[current] = "pending_confirmation"
    else:
        current = next(
            (index for index, status in enumerate(shown) if status != "completed"), len(stages) - 1
        )
    return StageInfo(stages=stages, statuses=shown, current=current, pending_confirmation=waiting)


def pipeline_stage_info(*, actor: User, task_id: int) -> dict[str, Any]:
    """Stage info for a pipeline team's task; a fixed answer for any other task (never an error,
    even when the team is gone: the web client asks on every task view)."""
    task = selectors.accessible_task(actor, task_id)
    team = turns.team_of(task)
    if not is_pipeline(team):
        return dict(NOT_A_PIPELINE)
    assert team is not None
    stages = team_stages(team)
    if not stages:
        return dict(NOT_A_PIPELINE)
    return stage_info(task, stages).as_dict()


def _stage_answer(task: TaskResource, team: Kind, stage: Stage, prompt: str) -> Subtask:
    """A new answer for ``stage``, fed ``prompt`` (the reference marks it as coming from a
    confirmation); it reuses the executor of the previous answer."""
    assert stage.bot is not None
    last = selectors.last_message_id(task)
    previous = selectors.latest_answer(task)
    return Subtask.objects.create(
        task=task,
        user_id=task.owner_id,
        team_id=team.pk,
        title=f"{task.spec.get('title') or ''} - {stage.bot.name}",
        bot_ids=[stage.bot.pk],
        role=Subtask.ASSISTANT,
        prompt=prompt,
        message_id=last + 1,
        parent_id=last,
        status=statuses.PENDING,
        progress=0,
        result={"confirmed_prompt": prompt, "from_stage_confirmation": True},
        sender_type="TEAM",
        executor_namespace=previous.executor_namespace if previous is not None else "",
        executor_name=previous.executor_name if previous is not None else "",
    )


def _pipeline_team(task: TaskResource) -> tuple[Kind, list[Stage]]:
    if task.status != statuses.PENDING_CONFIRMATION:
        raise BadRequest(f"Task is not awaiting confirmation. Current status: {task.status}")
    team = turns.team_of(task)
    if team is None:
        raise NotFound("Team not found")
    if not is_pipeline(team):
        raise BadRequest("Stage confirmation is only available for pipeline teams")
    stages = team_stages(team)
    if not stages:
        raise BadRequest("Stage confirmation is only available for pipeline teams")
    return team, stages


def _close_waiting_answer(task: TaskResource) -> None:
    """The answer that waited for the confirmation is done."""
    waiting = (
        Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status=statuses.PENDING_CONFIRMATION)
        .values_list("pk", flat=True)
        .order_by("-message_id")
    )
    for subtask_id in list(waiting):
        lifecycle.update_subtask(subtask_id, lifecycle.SubtaskChanges(status=statuses.COMPLETED))


def _set_status(task_id: int, new: str) -> TaskResource:
    task = TaskResource.objects.select_for_update().get(pk=task_id)
    stamp = documents.iso(timezone.now())
    fields: dict[str, Any] = {"status": new, "updatedAt": stamp, "errorMessage": None}
    if new == statuses.COMPLETED:
        fields.update(progress=100, completedAt=stamp)
    else:
        fields.update(progress=0, completedAt=None)
    task.document = documents.changed(task.document, **fields)
    task.save(update_fields=["document", "updated_at"])
    return task


def confirm_stage(*, actor: User, task_id: int, confirmed_prompt: str, action: str) -> dict[str, Any]:
    """The owner confirms a pipeline stage that waits for it.

    ``continue`` starts the next stage with ``confirmed_prompt`` (the last stage ends the
    pipeline: the task is COMPLETED); ``retry`` runs the current stage again with it. Either
    way the task goes back to PENDING for the work to be picked up.
    """
    turns.check_prompt(confirmed_prompt)
    with transaction.atomic():
        task = locked_owned_task(actor, task_id)
        team, stages = _pipeline_team(task)
        current = stage_info(task, stages).current
        target = current if action == RETRY else current + 1
        if target >= len(stages):
            _close_waiting_answer(task)
            task = _set_status(task.pk, statuses.COMPLETED)
            message, shown, next_name = "Pipeline completed", current, None
        else:
            stage = stages[target]
            if stage.bot is None:
                raise BadRequest("Bot not found for next stage")
            turns.answer_gates.call_all(task.owner_id)  # a new answer (429 over a quota, nothing written)
            row = _stage_answer(task, team, stage, confirmed_prompt)
            _close_waiting_answer(task)
            task = _set_status(task.pk, statuses.PENDING)
            lifecycle.start_answer_after_commit(task, row)
            if action == RETRY:
                message, shown, next_name = "Stage retry initiated", current, None
            else:
                message, shown, next_name = "Stage confirmed, proceeding to next stage", target, stage.name
        events.task_changed(task)
    return {
        "message": message,
        "task_id": task.pk,
        "current_stage": shown,
        "total_stages": len(stages),
        "next_stage_name": next_name,
    }


# --- preserve executor ----------------------------------------------------------------------------


def set_preserve_executor(*, actor: User, task_id: int, preserve: bool) -> dict[str, Any]:
    """The ``preserveExecutor`` label: the executor of a preserved task is never cleaned up."""
    with transaction.atomic():
        task = locked_owned_task(actor, task_id)
        task.document = documents.with_labels(
            task.document, {"preserveExecutor": "true" if preserve else "false"}
        )
        task.save(update_fields=["document", "updated_at"])
    return {
        "task_id": task.pk,
        "preserve_executor": preserve,
        "message": (
            "Executor will be preserved for this task"
            if preserve
            else "Executor cleanup enabled for this task"
        ),
    }


# --- services (status.app) ------------------------------------------------------------------------


def _app(task: TaskResource) -> dict[str, Any]:
    app = task.state.get("app")
    return dict(app) if isinstance(app, dict) else {}


def task_services(*, actor: User, task_id: int) -> dict[str, Any]:
    return {"app": shapes.shown_app(_app(selectors.accessible_task(actor, task_id)))}


def _write_app(actor: User, task_id: int, change: Any) -> dict[str, Any]:
    with transaction.atomic():
        task = locked_owned_task(actor, task_id)
        app = change(_app(task))
        task.document = documents.changed(task.document, app=app)
        task.save(update_fields=["document", "updated_at"])
    return {"app": shapes.shown_app(app)}


def update_services(*, actor: User, task_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Merges the given fields (None values are skipped) into ``status.app``."""
    given = {key: value for key, value in fields.items() if value is not None}
    return _write_app(actor, task_id, lambda app: {**app, **given})


def delete_services(*, actor: User, task_id: int, names: list[str]) -> dict[str, Any]:
    """Removes the named fields from ``status.app``."""
    dropped = set(names)
    return _write_app(actor, task_id, lambda app: {k: v for k, v in app.items() if k not in dropped})
