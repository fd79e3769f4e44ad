"""Messages (subtasks) as objects of their own: a task's messages page by page, the owner's
update and delete, editing a user message, polling and the streaming status of a task.

Rules (reference §6.8, with the deliberate differences noted):

* Whoever can see the task (owner or approved member) sees its messages, through
  ``tasks.selectors.visible_subtasks``; anyone else gets 404, as if the message did not exist.
* Messages marked ``DELETE`` (a deleted task's, or one the owner marked so) are not shown by any
  route; to them a message in that state does not exist.
* Only the task owner changes or deletes messages. An approved member, who can see the message,
  gets 403 rather than a 404 that would contradict what they see.
* Editing a user message removes it and everything after it (the client then sends the new text
  as a new turn): allowed to the owner and the message's sender, never in a group chat, never
  while an answer is pending or running.
* After messages are removed the task status follows its newest remaining answer; with none left
  the task is idle: COMPLETED with no result, so a new turn can start (``_settle``).
* Removing a message keeps its uploaded files: attachment contexts are unlinked (their rows and
  files stay, ready to be attached again), other contexts go with the message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from tasks import documents, selectors, statuses
from tasks.exceptions import SubtaskNotFound
from tasks.models import TASK, Subtask, SubtaskContext, TaskResource
from tasks.services import events, lifecycle
from tasks.services.turns import check_prompt
from wegent.errors import BadRequest, Forbidden, NotFound
from wegent.hooks import Hook

logger = logging.getLogger(__name__)

# The chat app keeps the text of a live stream in the cache; it registers a provider here that
# returns that text for a running answer (None when it has none). Providers are asked in order
# before the text saved on the row.
live_text_providers: Hook[Callable[[Subtask], str | None]] = Hook(
    "tasks.live_text_providers", "a running answer's text so far (None: unknown); first answer wins"
)

# What the model reads for a user message whose stored text is a stand-in (a rented
# subscription's run: the source's prompt stays private to its owner, the renter's task shows a
# stand-in). provider(task, user_messages) -> {subtask id: text}; each returns at once for tasks
# that are not its own.
model_text_providers: Hook[Callable[[TaskResource, list[Subtask]], dict[int, str]]] = Hook(
    "tasks.model_text_providers",
    "the text the model reads instead of user messages' stored prompts, by subtask id",
)


def model_texts(task: TaskResource, user_messages: list[Subtask]) -> dict[int, str]:
    """The model's text of those of ``user_messages`` whose stored prompt is a stand-in."""
    found: dict[int, str] = {}
    if not user_messages:
        return found
    for provider in model_text_providers:
        found.update(provider(task, user_messages))
    return found


# message_id / parent_id are 32-bit columns on PostgreSQL.
MAX_MESSAGE_NUMBER = 2**31 - 1


class MessageNotFound(NotFound):
    default_detail = "Message not found"


# --- reads ---------------------------------------------------------------------------------------


def _shown(rows: QuerySet[Subtask]) -> QuerySet[Subtask]:
    return rows.exclude(status=statuses.DELETE)


def message_page(
    *,
    actor: User,
    task_id: int,
    page: int,
    limit: int,
    from_latest: bool,
    before_message_id: int | None = None,
) -> tuple[list[Subtask], int]:
    """One page of a task's messages, oldest first, and how many match in all.

    ``from_latest`` pages from the newest end (page 1 = the last ``limit`` messages), still
    returned oldest first; ``before_message_id`` keeps only older messages (scroll-back). The
    total counts the messages matching these filters.
    """
    task = selectors.accessible_task(actor, task_id)
    rows = _shown(selectors.visible_subtasks(task, actor))
    if before_message_id is not None:
        rows = rows.filter(message_id__lt=before_message_id)
    offset = (page - 1) * limit
    if offset > selectors.MAX_ID:
        return [], rows.count()
    if from_latest:
        found = list(rows.order_by("-message_id", "-id")[offset : offset + limit])
        found.reverse()
    else:
        found = list(rows.order_by("message_id", "id")[offset : offset + limit])
    total = len(found) if page == 1 and len(found) < limit else rows.count()
    return found, total


def _task_of_message(subtask_id: int, missing: type[NotFound]) -> int:
    if not 0 < subtask_id <= selectors.MAX_ID:
        raise missing()
    task_id = Subtask.objects.filter(pk=subtask_id).values_list("task_id", flat=True).first()
    if task_id is None:
        raise missing()
    return task_id


def _visible_row(task: TaskResource, actor: User, subtask_id: int, missing: type[NotFound]) -> Subtask:
    row = _shown(selectors.visible_subtasks(task, actor)).filter(pk=subtask_id).first()
    if row is None:
        raise missing()
    return row


def visible_message(*, actor: User, subtask_id: int) -> Subtask:
    """The message if the caller can see it; 404 "Subtask not found" otherwise."""
    task = selectors.task_row(_task_of_message(subtask_id, SubtaskNotFound))
    if task is None or not selectors.can_access(actor, task):
        raise SubtaskNotFound()
    return _visible_row(task, actor, subtask_id, SubtaskNotFound)


@dataclass(frozen=True)
class Poll:
    messages: list[Subtask]
    streaming: Subtask | None


def poll(
    *, actor: User, task_id: int, last_subtask_id: int | None = None, since: dt.datetime | None = None
) -> Poll:
    """Messages with an id above ``last_subtask_id`` and changed after ``since`` (both optional),
    and the task's running answer if there is one.

    ``since`` compares with the update time (the reference: creation time), so a poller also
    sees messages that changed, e.g. an answer that completed.
    """
    task = selectors.accessible_task(actor, task_id)
    rows = _shown(selectors.visible_subtasks(task, actor))
    if last_subtask_id:
        rows = rows.filter(pk__gt=last_subtask_id)
    if since is not None:
        rows = rows.filter(updated_at__gt=since)
    return Poll(messages=list(rows.order_by("message_id", "id")), streaming=running_answer(task))


def running_answer(task: TaskResource) -> Subtask | None:
    return (
        Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status=statuses.RUNNING)
        .order_by("-message_id")
        .first()
    )


@dataclass(frozen=True)
class StreamingStatus:
    answer: Subtask | None = None
    started_by: User | None = None
    content: str | None = None


def live_text(answer: Subtask) -> str:
    """The answer's text so far: from the live stream if a provider knows it, else from the row."""
    for provider in live_text_providers:
        try:
            text = provider(answer)
        except Exception:  # a broken provider must not hide the saved text
            logger.exception("live text provider %s failed for subtask %s", provider, answer.pk)
            continue
        if text is not None:
            return text
    value = answer.result.get("value") if isinstance(answer.result, dict) else None
    return value if isinstance(value, str) else ""


def streaming_status(*, actor: User, task_id: int) -> StreamingStatus:
    """The task's running answer, who asked for it (the sender of the user message before it)."""
    task = selectors.accessible_task(actor, task_id)
    answer = running_answer(task)
    if answer is None:
        return StreamingStatus()
    asked = (
        Subtask.objects.filter(task=task, role=Subtask.USER, message_id__lt=answer.message_id)
        .select_related("sender_user")
        .order_by("-message_id")
        .first()
    )
    started_by = asked.sender_user if asked is not None and asked.sender_user is not None else task.owner
    return StreamingStatus(answer=answer, started_by=started_by, content=live_text(answer))


# --- writes --------------------------------------------------------------------------------------


def _locked_message(actor: User, subtask_id: int, missing: type[NotFound]) -> tuple[TaskResource, Subtask]:
    """The message's task (row-locked: turns and other edits of it wait) and the message."""
    task_id = _task_of_message(subtask_id, missing)
    task = TaskResource.objects.select_for_update().filter(pk=task_id, kind=TASK, is_active=True).first()
    if task is None or not selectors.can_access(actor, task):
        raise missing()
    return task, _visible_row(task, actor, subtask_id, missing)


def _require_owner(actor: User, task: TaskResource) -> None:
    if task.owner_id != actor.pk:
        raise Forbidden("Only the task owner can change its messages")


def _remove(task: TaskResource, ids: list[int]) -> int:
    """Deletes messages; their attachments are unlinked (kept), other contexts go with them."""
    if not ids:
        return 0
    SubtaskContext.objects.filter(subtask_id__in=ids, context_type=SubtaskContext.ATTACHMENT).update(
        subtask=None, updated_at=timezone.now()
    )
    _, per_model = Subtask.objects.filter(task=task, pk__in=ids).delete()
    return per_model.get(Subtask._meta.label, 0)


def _settle(task: TaskResource) -> None:
    """Re-derives the task status once messages are gone (inside the caller's transaction).

    With an answer left, that answer decides (``lifecycle.refresh_task_status``). With none, the
    task is idle: COMPLETED, no result or error, so it takes a new turn on either path.
    """
    if selectors.latest_answer(task) is not None:
        lifecycle.refresh_task_status(task.pk)
        return
    if task.status == statuses.DELETE:
        return
    state = task.state
    idle = {"status": statuses.COMPLETED, "progress": 100, "result": None, "errorMessage": None}
    if all(state.get(key) == value for key, value in idle.items()):
        return
    now = documents.iso(timezone.now())
    task.document = documents.changed(task.document, **idle, completedAt=now, updatedAt=now)
    task.save(update_fields=["document", "updated_at"])


def _changed(task: TaskResource) -> None:
    task.refresh_from_db()
    events.task_changed(task)


@dataclass
class MessageChanges(lifecycle.SubtaskChanges):
    """``SubtaskUpdate``: the status fields plus the message's place in the conversation."""

    message_id: int | None = None
    parent_id: int | None = None


def update_message(*, actor: User, subtask_id: int, changes: MessageChanges) -> Subtask:
    """The owner's partial update (``PUT /subtasks/{id}``), all or nothing.

    Status moves follow the subtask transitions (400 otherwise); a ``message_id`` already used by
    another message of the task is refused (400), since numbers order the conversation.
    """
    with transaction.atomic():
        task, row = _locked_message(actor, subtask_id, SubtaskNotFound)
        _require_owner(actor, task)
        moved: dict[str, int] = {}
        if changes.message_id is not None and changes.message_id != row.message_id:
            if Subtask.objects.filter(task=task, message_id=changes.message_id).exists():
                raise BadRequest(f"Message id {changes.message_id} is already used in this task")
            moved["message_id"] = changes.message_id
        if changes.parent_id is not None and changes.parent_id != row.parent_id:
            moved["parent_id"] = changes.parent_id
        if moved:
            try:
                with transaction.atomic():
                    Subtask.objects.filter(pk=row.pk).update(**moved, updated_at=timezone.now())
            except IntegrityError as exc:  # the task lock makes this unreachable; kept as a guard
                raise BadRequest("Message id is already used in this task") from exc
        lifecycle.update_subtask(row.pk, changes)
        if "message_id" in moved:
            # Renumbering can change which answer is the newest one.
            lifecycle.refresh_task_status(task.pk)
    _changed(task)
    return Subtask.objects.select_related("sender_user").get(pk=row.pk)


def delete_message(*, actor: User, subtask_id: int) -> None:
    """The owner removes one message for good; an answer being generated cannot be removed."""
    with transaction.atomic():
        task, row = _locked_message(actor, subtask_id, SubtaskNotFound)
        _require_owner(actor, task)
        # Locked, so a worker cannot claim this answer between the check and the delete.
        row = Subtask.objects.select_for_update().get(pk=row.pk)
        if row.role == Subtask.ASSISTANT and row.status == statuses.RUNNING:
            raise BadRequest("Cannot delete a response that is still being generated")
        _remove(task, [row.pk])
        _settle(task)
    _changed(task)


@dataclass(frozen=True)
class EditResult:
    subtask_id: int
    message_id: int
    deleted_count: int


def edit_message(*, actor: User, subtask_id: int, new_content: str) -> EditResult:
    """Removes a user message and every message after it, so the new text can be sent as a turn.

    The new text is only checked here (the client sends it next); the task row stays locked
    until the messages are gone, so no turn can start in between.
    """
    check_prompt(new_content)
    with transaction.atomic():
        task, row = _locked_message(actor, subtask_id, MessageNotFound)
        if task.owner_id != actor.pk and row.sender_user_id != actor.pk:
            raise Forbidden("Only the task owner or the message's sender can edit it")
        if row.role != Subtask.USER:
            raise BadRequest("Only user messages can be edited")
        if task.is_group_chat:
            raise BadRequest("Edit not supported in group chat")
        if selectors.has_active_answer(task):
            raise BadRequest("Cannot edit while AI is generating a response")
        ids = list(
            Subtask.objects.filter(task=task, message_id__gte=row.message_id).values_list("pk", flat=True)
        )
        deleted = _remove(task, ids)
        _settle(task)
    _changed(task)
    return EditResult(subtask_id=row.pk, message_id=row.message_id, deleted_count=deleted)
