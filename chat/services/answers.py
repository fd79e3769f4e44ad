"""Stopping and restarting answers: ``chat:cancel``, ``chat:retry``, and the answers whose
worker died mid-stream."""

from __future__ import annotations

import json
from typing import Any

from accounts.models import User
from chat import config, protocol, stream_state
from chat.services import teams
from chat.services.outcome import Outcome, failed, over_quota, visible_task
from chat.services.sending import answer_for, claim
from chat.streams import Answer
from quotas import services as quotas
from quotas.exceptions import QuotaExceeded
from tasks import selectors, statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle, turns
from wegent.errors import DomainError
from wegent.realtime.rooms import task_room


def cancellable_answer(actor: User, payload: protocol.ChatCancel) -> Subtask | dict[str, str]:
    """The answer ``chat:cancel`` may stop, or the reference's error ack."""
    row = selectors.subtask_with_task(payload.subtask_id)
    if row is None or not row.task.is_active or not selectors.can_access(actor, row.task):
        return protocol.error("Subtask not found")
    if row.status not in statuses.ACTIVE:
        return protocol.error(f"Cannot cancel subtask in {row.status} state")
    return row


def end_unclaimed(row: Subtask) -> bool:
    """Ends an answer no stream has claimed yet (PENDING) or whose stream died; True if done."""
    if row.status == statuses.PENDING:
        try:
            lifecycle.update_subtask(
                row.pk, lifecycle.SubtaskChanges(status=statuses.CANCELLED, progress=100)
            )
        except DomainError:
            return False
        return True
    return False


def _additional_skills(task: TaskResource) -> list[str]:
    """The skills the task's messages asked for (kept in its labels when the turn was stored)."""
    try:
        names = json.loads(task.labels.get("additionalSkills") or "[]")
    except ValueError:
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def retry(actor: User, payload: protocol.ChatRetry, *, accepting: bool = True) -> Outcome:
    """``chat:retry``: the failed answer is reset in place and streamed again."""
    task = visible_task(actor, payload.task_id)
    if task is None:
        return failed("Task not found")
    answer = selectors.answer_in(task, payload.subtask_id)
    if answer is None:
        return failed("AI subtask not found")
    # A member's answer to a coordinating leader replies to the leader's answer, not a user.
    if not answer.reply_to_subtask_id and not selectors.has_user_message(task, answer.parent_id):
        return failed("User message not found")
    team = turns.team_of(task)
    if team is None:
        return failed("Team not found")
    if not accepting:
        return failed("Server is shutting down")
    try:
        quotas.check(task.owner_id)  # a retry calls the model again: the owner's quotas apply
    except QuotaExceeded as exc:
        return over_quota(exc)
    try:
        answer = lifecycle.reset_answer(answer.pk)
    except DomainError as exc:
        return failed(str(exc.detail))
    model_name = payload.force_override_bot_model if payload.use_model_override else None
    model_type = payload.force_override_bot_model_type if payload.use_model_override else None
    try:
        setup = config.resolve(task, team, actor, model_name=model_name, model_type=model_type)
        prepared = answer_for(
            task,
            answer,
            actor,
            setup,
            attachment_ids=selectors.attachment_ids_of_message(task, answer.parent_id),
            additional_skills=_additional_skills(task),
        )
        # A multi-bot team's answer is retried as its member, reading what that member read.
        prepared = teams.resumed(
            prepared, task, team, answer, actor, model_name=model_name, model_type=model_type
        )
    except DomainError as exc:
        lifecycle.update_subtask(
            answer.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message=str(exc.detail))
        )
        return failed(str(exc.detail))
    answers = [prepared] if claim(prepared) else []
    return Outcome(ack={"success": True}, rooms=[task_room(task.pk)], answers=answers)


def resumable(task: TaskResource, row: Subtask) -> Answer | None:
    """The answer to stream for a PENDING answer row written outside a chat turn (a confirmed
    pipeline stage), as the task owner's; None when the team does not chat directly. A member
    that cannot answer (no model) ends the row FAILED with the reason."""
    team = turns.team_of(task)
    if team is None or not config.supports_direct_chat(team):
        return None
    try:
        setup = config.resolve(task, team, task.owner)
        prepared = answer_for(task, row, task.owner, setup, additional_skills=_additional_skills(task))
        return teams.resumed(prepared, task, team, row, task.owner)
    except DomainError as exc:
        message = str(exc.detail)
        lifecycle.update_subtask(
            row.pk,
            lifecycle.SubtaskChanges(
                status=statuses.FAILED, error_message=message, result={"value": "", "error": message}
            ),
        )
        return None


def interrupted_answers(lease_seconds: int, worker_prefix: str) -> list[dict[str, Any]]:
    """Fails RUNNING answers whose stream's lease ran out, keeping their partial text; returns
    the ``chat:error`` payloads to send."""
    ended = []
    message = "The answer was interrupted because the server producing it stopped"
    for row in lifecycle.stale_answers(lease_seconds=lease_seconds, worker_prefix=worker_prefix):
        payload = fail_answer(row, message)
        if payload is not None:
            ended.append(payload)
    return ended


def fail_answer(row: Subtask, message: str) -> dict[str, Any] | None:
    """Ends an answer FAILED with ``message``, keeping its partial text (saved or live); the
    ``chat:error`` payload to send, or None when its status may no longer move (it ended)."""
    stored = row.result.get("value") if isinstance(row.result, dict) else None
    live = stream_state.text(row.pk)
    text = max((t for t in (stored, live) if isinstance(t, str)), key=len, default="")
    try:
        lifecycle.update_subtask(
            row.pk,
            lifecycle.SubtaskChanges(
                status=statuses.FAILED, error_message=message, result={"value": text, "error": message}
            ),
        )
    except DomainError:
        return None
    return protocol.chat_error(
        task_id=row.task_id, subtask_id=row.pk, error_text=message, message_id=row.message_id
    )
