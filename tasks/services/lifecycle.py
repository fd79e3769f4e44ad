"""How tasks and messages move: status changes (guarded), claiming an answer, the task status
derived from its messages, and the owner's update, delete and cancel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kinds.models import ResourceMember
from tasks import documents, selectors, statuses
from tasks.exceptions import InvalidTransition, SubtaskNotFound, TaskNotFound
from tasks.models import NO_PROJECT, TASK, WORKSPACE, Subtask, TaskResource
from tasks.services import events
from tasks.services.turns import check_prompt
from wegent.errors import BadRequest
from wegent.hooks import Hook

ENDED = frozenset({statuses.COMPLETED, statuses.FAILED, statuses.CANCELLED})

# The chat app registers a stopper for direct-chat streams: stopper(task, answer) -> bool, True
# when it stopped a live stream (on whichever worker runs it) and saved its partial text.
stream_stoppers: Hook[Callable[[TaskResource, Subtask], bool]] = Hook(
    "tasks.stream_stoppers", "stops a live stream of the answer for a cancel; True when it did"
)


# The chat app registers a starter for answers written outside a chat turn (a confirmed
# pipeline stage): starter(task, answer) -> bool, True when it took the answer to stream.
answer_starters: Hook[Callable[[TaskResource, Subtask], bool]] = Hook(
    "tasks.answer_starters", "starts streaming a PENDING answer written by a REST route; True when it did"
)


def start_answer_after_commit(task: TaskResource, answer: Subtask) -> None:
    """Once the transaction commits, the first starter that takes the answer streams it (with
    none, e.g. an executor team, it waits PENDING for an executor to claim it)."""

    def start() -> None:
        for starter in answer_starters:
            if starter(task, answer):
                return

    transaction.on_commit(start)


# --- the derived task status -------------------------------------------------------------------


def _status_fields(task: TaskResource, answer: Subtask | None, new: str) -> dict[str, Any]:
    stamp = documents.iso(timezone.now())
    fields: dict[str, Any] = {"status": new}
    if new == statuses.COMPLETED:
        fields.update(progress=100, completedAt=stamp, errorMessage=None)
        if answer is not None:
            fields["result"] = answer.result
    elif new == statuses.FAILED:
        fields.update(completedAt=stamp, errorMessage=answer.error_message if answer is not None else None)
    elif new == statuses.CANCELLED:
        fields.update(progress=100, completedAt=stamp, errorMessage="")
        if answer is not None and answer.result is not None:
            fields["result"] = answer.result
    elif new == statuses.RUNNING and answer is not None:
        fields["progress"] = answer.progress
    return fields


def refresh_task_status(task_id: int) -> TaskResource | None:
    """Stores the status implied by the task's newest answer; tells listeners when it changed."""
    return refresh_task_statuses([task_id]).get(task_id)


def refresh_task_statuses(
    task_ids: list[int], known: dict[int, Subtask] | None = None
) -> dict[int, TaskResource]:
    """``refresh_task_status`` for several tasks in one transaction and a fixed number of queries.

    ``known``: answers just written, by task id; one that is still its task's newest answer is
    not read again.
    """
    known = known or {}
    with transaction.atomic():
        # Locked in id order, so two batches over the same tasks cannot deadlock.
        tasks = list(
            TaskResource.objects.select_for_update().filter(pk__in=set(task_ids), kind=TASK).order_by("pk")
        )
        newest = selectors.latest_answers([task.pk for task in tasks], known)
        for task in tasks:
            _store_derived_status(task, newest.get(task.pk))
    return {task.pk: task for task in tasks}


def _store_derived_status(task: TaskResource, answer: Subtask | None) -> None:
    new = statuses.derived_task_status(task.status, answer.status if answer is not None else None)
    # A completed task also follows its newest answer's result (e.g. after messages are removed).
    stale_result = (
        new == statuses.COMPLETED and answer is not None and task.state.get("result") != answer.result
    )
    if new == task.status and not stale_result:
        return
    fields = _status_fields(task, answer, new)
    fields["updatedAt"] = documents.iso(timezone.now())
    task.document = documents.changed(task.document, **fields)
    task.save(update_fields=["document", "updated_at"])
    events.task_changed(task)  # sent once the transaction commits


# --- messages ------------------------------------------------------------------------------------


@dataclass
class SubtaskChanges:
    """What a status update may carry (``None`` leaves a field as it is)."""

    status: str | None = None
    progress: int | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    title: str | None = None
    executor_namespace: str | None = None
    executor_name: str | None = None
    executor_deleted_at: bool | None = None
    # The bots the answer is from (a routing team's leader chose one member).
    bot_ids: list[int] | None = None
    # Tokens (input, output) the model used for this answer: added to what the row holds (a
    # retried answer keeps what its earlier attempts used).
    usage: tuple[int, int] | None = None


def _check_transition(row: Subtask, new: str) -> None:
    if new != row.status and not statuses.subtask_may_become(row.status, new):
        raise InvalidTransition(f"Cannot change subtask status from {row.status} to {new}")


def update_subtask(subtask_id: int, changes: SubtaskChanges) -> Subtask:
    """Applies ``changes`` to a message under its row lock; illegal status moves are refused."""
    result = update_subtasks([(subtask_id, changes)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def update_subtasks(updates: list[tuple[int, SubtaskChanges]]) -> list[Subtask | Exception]:
    """``update_subtask`` for many messages (answers of streams ending together): one
    transaction for the messages and one for their tasks' statuses, whatever their number.

    One entry per update, in order: the saved row, or the refusal of that update alone
    (``SubtaskNotFound``, ``InvalidTransition``). Updates of one message apply in order.
    """
    results: list[Subtask | Exception] = []
    moved: dict[int, Subtask] = {}  # answers whose status changed, by task id
    with transaction.atomic():
        ids = {subtask_id for subtask_id, _ in updates}
        rows = {row.pk: row for row in Subtask.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        for subtask_id, changes in updates:
            row = rows.get(subtask_id)
            if row is None:
                results.append(SubtaskNotFound())
                continue
            previous = row.status
            try:
                changed = _apply(row, changes)
            except InvalidTransition as exc:
                results.append(exc)
                continue
            row.save(update_fields=[*changed, "updated_at"])
            results.append(row)
            if row.status != previous and row.role == Subtask.ASSISTANT:
                moved[row.task_id] = row
    if moved:
        refresh_task_statuses(list(moved), known=moved)
    return results


def _apply(row: Subtask, changes: SubtaskChanges) -> list[str]:
    """Sets ``changes`` on the row; the names of the fields it set."""
    changed: list[str] = []
    if changes.status is not None:
        _check_transition(row, changes.status)
        if changes.status in ENDED and row.status not in ENDED:
            row.completed_at = timezone.now()
            changed.append("completed_at")
        if changes.status == statuses.COMPLETED:
            row.progress = 100
            changed.append("progress")
        row.status = changes.status
        changed.append("status")
    copied = ("progress", "result", "error_message", "title", "executor_namespace", "executor_name")
    copied += ("bot_ids",)
    for name in copied:
        value = getattr(changes, name)
        if value is not None:
            setattr(row, name, value)
            changed.append(name)
    if changes.executor_deleted_at is not None:
        row.executor_deleted_at = changes.executor_deleted_at
        changed.append("executor_deleted_at")
    if changes.usage is not None:
        used_in, used_out = changes.usage
        row.input_tokens += max(0, int(used_in))
        row.output_tokens += max(0, int(used_out))
        changed += ["input_tokens", "output_tokens"]
    return list(dict.fromkeys(changed))


def reset_answer(subtask_id: int) -> Subtask:
    """An ended answer back to PENDING with no result, progress or end time, to be streamed
    again (a retry); refused like any illegal status move."""
    with transaction.atomic():
        row = update_subtask(
            subtask_id, SubtaskChanges(status=statuses.PENDING, progress=0, error_message="")
        )
        Subtask.objects.filter(pk=row.pk).update(result=None, completed_at=None)
    row.result, row.completed_at = None, None
    return row


def claim_subtask(subtask_id: int, worker_id: str) -> bool:
    """PENDING -> RUNNING for one worker only: of two claims on one answer exactly one wins."""
    now = timezone.now()
    won = Subtask.objects.filter(pk=subtask_id, status=statuses.PENDING).update(
        status=statuses.RUNNING, worker_id=worker_id[:64], heartbeat_at=now, updated_at=now
    )
    if won:
        task_id = Subtask.objects.filter(pk=subtask_id).values_list("task_id", flat=True).first()
        if task_id is not None:
            refresh_task_status(task_id)
    return bool(won)


# --- the owner's changes -------------------------------------------------------------------------


@dataclass
class TaskChanges:
    title: str | None = None
    prompt: str | None = None
    status: str | None = None
    progress: int | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    git_url: str | None = None
    git_repo_id: int | None = None


def _locked_owned_task(actor: User, task_id: int) -> TaskResource:
    task = TaskResource.objects.select_for_update().filter(pk=task_id, kind=TASK, is_active=True).first()
    if task is None or task.owner_id != actor.pk:
        raise TaskNotFound()
    return task


def _update_workspace(task: TaskResource, changes: TaskChanges) -> None:
    if changes.git_url is None and changes.git_repo_id is None:
        return
    workspace = selectors.workspace_for(task)
    if workspace is None or workspace.kind != WORKSPACE:
        return
    repository = dict(workspace.spec.get("repository") or {})
    if changes.git_url is not None:
        repository["gitUrl"] = changes.git_url
    if changes.git_repo_id is not None:
        repository["gitRepoId"] = changes.git_repo_id
    workspace.document = documents.changed(workspace.document, spec={"repository": repository})
    workspace.save(update_fields=["document", "updated_at"])


def update_task(*, actor: User, task_id: int, changes: TaskChanges) -> TaskResource:
    """The owner's partial update (``PUT /tasks/{id}``)."""
    if changes.prompt is not None:
        check_prompt(changes.prompt)
    with transaction.atomic():
        task = _locked_owned_task(actor, task_id)
        spec: dict[str, Any] = {}
        status: dict[str, Any] = {"updatedAt": documents.iso(timezone.now())}
        if changes.title is not None:
            spec["title"] = changes.title
        if changes.prompt is not None:
            spec["prompt"] = changes.prompt
        if changes.status is not None and changes.status != task.status:
            if not statuses.task_may_become(task.status, changes.status):
                raise InvalidTransition(f"Cannot change task status from {task.status} to {changes.status}")
            status["status"] = changes.status
            if changes.status in ENDED:
                status["completedAt"] = documents.iso(timezone.now())
        for name, key in (("progress", "progress"), ("result", "result"), ("error_message", "errorMessage")):
            value = getattr(changes, name)
            if value is not None:
                status[key] = value
        task.document = documents.changed(task.document, spec=spec, **status)
        task.save(update_fields=["document", "updated_at"])
        _update_workspace(task, changes)
    events.task_changed(task)
    return task


def delete_task(*, actor: User, task_id: int) -> None:
    """The owner deletes the task (soft: messages and task marked DELETE); a member leaves it."""
    task = selectors.task_row(task_id)
    if task is None:
        raise TaskNotFound()
    if task.owner_id != actor.pk:
        left = (
            selectors.approved_members(task.pk)
            .filter(user=actor)
            .update(status=ResourceMember.REJECTED, updated_at=timezone.now())
        )
        if not left:
            raise TaskNotFound()
        return
    with transaction.atomic():
        task = _locked_owned_task(actor, task_id)
        Subtask.objects.filter(task=task).update(
            status=statuses.DELETE, executor_deleted_at=True, updated_at=timezone.now()
        )
        task.document = documents.changed(
            task.document, status=statuses.DELETE, updatedAt=documents.iso(timezone.now())
        )
        task.is_active = False
        task.project_id = NO_PROJECT  # a deleted task leaves its folder
        task.save(update_fields=["document", "is_active", "project_id", "updated_at"])
    events.task_deleted(task)
    events.task_changed(task)


# --- cancel ---------------------------------------------------------------------------------------


def _stop_answer(task: TaskResource, answer: Subtask) -> None:
    """Stops a live stream through the chat app, or ends a stream nobody is running."""
    for stopper in stream_stoppers:
        if stopper(task, answer):
            return
    result = answer.result if isinstance(answer.result, dict) else {}
    update_subtask(
        answer.pk,
        SubtaskChanges(
            status=statuses.CANCELLED, progress=100, result={**result, "value": result.get("value") or ""}
        ),
    )


def cancel_task(*, actor: User, task_id: int) -> dict[str, str]:
    """``POST /tasks/{id}/cancel``: the reference's answers, with a cancel that really ends it."""
    task = selectors.accessible_task(actor, task_id)
    if task.status in statuses.FINAL:
        raise BadRequest(f"Task is already {task.status}, cannot cancel")
    if task.status == statuses.CANCELLING:
        return {"message": "Task is already being cancelled", "status": statuses.CANCELLING}
    answer = (
        Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status__in=statuses.ACTIVE)
        .order_by("-message_id")
        .first()
    )
    if task.labels.get("source") == "chat_shell":
        if answer is None:
            return {"message": "No running stream to cancel", "status": task.status}
        _stop_answer(task, answer)
        return {"message": "Chat stopped successfully", "status": statuses.CANCELLED}
    if answer is None or answer.status == statuses.PENDING:
        # Nothing has picked the work up yet, so it can end at once.
        if answer is not None:
            update_subtask(answer.pk, SubtaskChanges(status=statuses.CANCELLED, progress=100))
        _set_task_status(task.pk, statuses.CANCELLED)
        return {"message": "Task cancelled", "status": statuses.CANCELLED}
    _set_task_status(task.pk, statuses.CANCELLING)
    return {"message": "Cancel request accepted", "status": statuses.CANCELLING}


def _set_task_status(task_id: int, new: str) -> None:
    with transaction.atomic():
        task = TaskResource.objects.select_for_update().get(pk=task_id)
        if task.status == new:
            return
        fields: dict[str, Any] = {"status": new, "updatedAt": documents.iso(timezone.now())}
        if new in ENDED:
            fields["completedAt"] = fields["updatedAt"]
        task.document = documents.changed(task.document, **fields)
        task.save(update_fields=["document", "updated_at"])
    events.task_changed(task)


# --- answers being produced (the chat runner's lease) ----------------------------------------------


def save_progress(subtask_id: int, worker_id: str, result: dict[str, Any]) -> bool:
    """Stores a running answer's partial result and renews its lease; False when the answer is
    no longer this worker's (cancelled or failed elsewhere)."""
    now = timezone.now()
    return bool(
        Subtask.objects.filter(pk=subtask_id, status=statuses.RUNNING, worker_id=worker_id).update(
            result=result, heartbeat_at=now, updated_at=now
        )
    )


def stale_answers(*, lease_seconds: int, worker_prefix: str) -> list[Subtask]:
    """RUNNING answers of ``worker_prefix`` workers whose lease ran out (their worker died)."""
    cutoff = timezone.now() - dt.timedelta(seconds=lease_seconds)
    return list(
        Subtask.objects.filter(
            role=Subtask.ASSISTANT,
            status=statuses.RUNNING,
            worker_id__startswith=worker_prefix,
            heartbeat_at__lt=cutoff,
        ).order_by("id")
    )
