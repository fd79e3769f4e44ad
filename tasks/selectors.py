"""Reads of tasks and messages: who may see a task, list sets, message numbering, conversations."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, Max, Q, QuerySet, Sum

from accounts.models import User
from kinds.models import ResourceMember
from tasks import statuses
from tasks.exceptions import ProjectNotFound, TaskNotFound
from tasks.models import TASK, WORKSPACE, Project, Subtask, SubtaskContext, TaskResource

# Ids beyond a signed 64-bit integer cannot exist (and overflow some databases).
MAX_ID = 2**63 - 1


def task_row(task_id: int) -> TaskResource | None:
    """The active Task with this id, whoever owns it."""
    if not 0 < task_id <= MAX_ID:
        return None
    return TaskResource.objects.filter(pk=task_id, kind=TASK, is_active=True).select_related("owner").first()


def approved_members(task_id: int) -> QuerySet[ResourceMember]:
    # A row recording a copy made from a share link is not a membership of the original.
    return ResourceMember.objects.filter(
        resource_type=ResourceMember.TASK,
        resource_id=task_id,
        status=ResourceMember.APPROVED,
        copied_resource_id=0,
    )


def is_approved_member(user: User, task_id: int) -> bool:
    return approved_members(task_id).filter(user=user).exists()


def can_access(user: User, task: TaskResource) -> bool:
    """Owner, or an approved member (the reference's "can access task")."""
    return task.owner_id == user.pk or is_approved_member(user, task.pk)


def visible_subtasks(task: TaskResource, viewer: User) -> QuerySet[Subtask]:
    """A task's messages as ``viewer`` may see them: all for the owner and approved members
    (``can_access``), only their own for anyone else (the reference's group-chat rule)."""
    rows = Subtask.objects.filter(task=task).select_related("sender_user")
    if not can_access(viewer, task):
        rows = rows.filter(sender_user=viewer)
    return rows


def can_read_attachment(actor: User, context: SubtaskContext) -> bool:
    """The uploader, or whoever may access the linked message's (live) task."""
    if context.user_id == actor.pk:
        return True
    subtask = context.subtask
    task = subtask.task if subtask is not None else None
    return task is not None and task.is_active and can_access(actor, task)


def for_user(actor: User) -> QuerySet[TaskResource]:
    """The active tasks ``actor`` may access (``can_access`` as a query): their own, and those
    they are an approved member of."""
    own_or_member = Q(owner=actor) | Q(pk__in=member_task_ids(actor))
    return TaskResource.objects.filter(own_or_member, kind=TASK, is_active=True)


def accessible_task(actor: User, task_id: int) -> TaskResource:
    """The task if ``actor`` owns it or is an approved member; 404 "Task not found" otherwise."""
    if not 0 < task_id <= MAX_ID:
        raise TaskNotFound()
    task = for_user(actor).filter(pk=task_id).select_related("owner").first()
    if task is None:
        raise TaskNotFound()
    return task


def owned_task(actor: User, task_id: int) -> TaskResource:
    task = task_row(task_id)
    if task is None or task.owner_id != actor.pk:
        raise TaskNotFound()
    return task


def member_task_ids(actor: User) -> QuerySet[ResourceMember]:
    return ResourceMember.objects.filter(
        resource_type=ResourceMember.TASK, user=actor, status=ResourceMember.APPROVED, copied_resource_id=0
    ).values("resource_id")


def listed_tasks(actor: User) -> QuerySet[TaskResource]:
    """Tasks in the caller's lists: their own and the group chats they joined, hidden ones out."""
    own_or_joined = Q(owner=actor) | Q(pk__in=member_task_ids(actor), is_group_chat=True)
    return TaskResource.objects.filter(own_or_joined, kind=TASK, listed=True)


def workspace_for(task: TaskResource) -> TaskResource | None:
    ref = task.spec.get("workspaceRef")
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str):
        return None
    namespace = ref.get("namespace") or task.namespace
    return TaskResource.objects.filter(
        owner_id=task.owner_id, kind=WORKSPACE, namespace=namespace, name=name, is_active=True
    ).first()


def workspaces_for(tasks: list[TaskResource]) -> dict[int, TaskResource]:
    """Each task's workspace, in one query."""
    wanted: dict[tuple[int, str, str], int] = {}
    for task in tasks:
        ref = task.spec.get("workspaceRef")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            wanted[(task.owner_id, ref.get("namespace") or task.namespace, ref["name"])] = task.pk
    if not wanted:
        return {}
    rows = TaskResource.objects.filter(
        kind=WORKSPACE,
        is_active=True,
        owner_id__in={key[0] for key in wanted},
        name__in={key[2] for key in wanted},
    )
    found: dict[int, TaskResource] = {}
    for row in rows:
        task_id = wanted.get((row.owner_id, row.namespace, row.name))
        if task_id is not None:
            found[task_id] = row
    return found


def last_message_id(task: TaskResource) -> int:
    return Subtask.objects.filter(task=task).aggregate(last=Max("message_id"))["last"] or 0


def latest_answer(task: TaskResource) -> Subtask | None:
    """The newest ASSISTANT message that is not deleted (the one the task's status follows).

    Answers that reply to another answer (``reply_to_subtask_id``: a team member a coordinating
    leader asked, see chat/services/teams.py) do not count: the leader's answer, older than
    theirs, is still being written and decides the task."""
    return latest_answer_of(task.pk)


def _deciding_answers() -> QuerySet[Subtask]:
    return Subtask.objects.filter(role=Subtask.ASSISTANT, reply_to_subtask_id=0).exclude(
        status=statuses.DELETE
    )


def latest_answer_of(task_id: int) -> Subtask | None:
    return _deciding_answers().filter(task_id=task_id).order_by("-message_id").first()


def latest_answers(task_ids: list[int], known: dict[int, Subtask] | None = None) -> dict[int, Subtask]:
    """``latest_answer`` of several tasks in one or two queries (none for a task without one).

    ``known``: rows the caller holds, by task id; one that is still its task's newest answer
    is used as it is.
    """
    if not task_ids:
        return {}
    known = known or {}
    if len(task_ids) == 1 and not known:
        row = latest_answer_of(task_ids[0])
        return {row.task_id: row} if row is not None else {}
    newest = dict(
        _deciding_answers()
        .filter(task_id__in=task_ids)
        .values("task_id")
        .annotate(last=Max("message_id"))
        .order_by()
        .values_list("task_id", "last")
    )
    found = {
        task_id: row
        for task_id, row in known.items()
        if task_id in newest and row.message_id == newest[task_id]
    }
    missing = {task_id: message_id for task_id, message_id in newest.items() if task_id not in found}
    if missing:
        query = Q()
        for task_id, message_id in missing.items():
            query |= Q(task_id=task_id, message_id=message_id)
        rows = _deciding_answers().filter(query)
        found.update({row.task_id: row for row in rows.order_by("pk")})
    return found


def answer_usage(user_ids: list[int], windows: dict[str, datetime]) -> dict[str, tuple[int, int]]:
    """(answers, tokens) of the answers in the conversations of ``user_ids`` created since each
    window's start, by window name: one query over ``subtask_usage_idx`` whatever the number of
    windows (the earliest start bounds the scan). Deleted answers count: their tokens were used."""
    if not user_ids or not windows:
        return {name: (0, 0) for name in windows}
    tokens = F("input_tokens") + F("output_tokens")
    aggregates = {}
    for name, since in windows.items():
        within = Q(created_at__gte=since)
        aggregates[f"{name}_n"] = Count("id", filter=within)
        aggregates[f"{name}_t"] = Sum(tokens, filter=within)
    rows = Subtask.objects.filter(
        user_id__in=user_ids, role=Subtask.ASSISTANT, created_at__gte=min(windows.values())
    )
    found = rows.aggregate(**aggregates)
    return {name: (found[f"{name}_n"] or 0, found[f"{name}_t"] or 0) for name in windows}


def has_active_answer(task: TaskResource) -> bool:
    return Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status__in=statuses.ACTIVE).exists()


# --- reads for chat: a conversation, its attachments, a running answer ------------------------------


def conversation(task: TaskResource, *, before_message_id: int | None = None) -> list[Subtask]:
    """The task's messages that are not deleted, oldest first, with their senders (only those
    before ``before_message_id`` when given)."""
    rows = Subtask.objects.filter(task=task).exclude(status=statuses.DELETE).select_related("sender_user")
    if before_message_id is not None:
        rows = rows.filter(message_id__lt=before_message_id)
    return list(rows.order_by("message_id"))


def contexts_by_message(subtask_ids: list[int]) -> dict[int, list[SubtaskContext]]:
    """The contexts (attachments, knowledge bases...) of these messages, by message id, in the
    order they were added; no query for no messages."""
    found: dict[int, list[SubtaskContext]] = {}
    if subtask_ids:
        for context in SubtaskContext.objects.filter(subtask_id__in=subtask_ids).order_by("id"):
            found.setdefault(context.subtask_id or 0, []).append(context)
    return found


def messages_after(rows: QuerySet[Subtask], after_message_id: int | None = None) -> QuerySet[Subtask]:
    """``rows`` (a task's messages as someone may see them) without deleted ones, oldest first;
    only those after ``after_message_id`` when given."""
    rows = rows.exclude(status=statuses.DELETE)
    if after_message_id is not None:
        rows = rows.filter(message_id__gt=after_message_id)
    return rows.order_by("message_id")


def running_answer(task: TaskResource) -> Subtask | None:
    """The task's newest RUNNING answer, if any."""
    return (
        Subtask.objects.filter(task=task, role=Subtask.ASSISTANT, status=statuses.RUNNING)
        .order_by("-message_id")
        .first()
    )


def turn_answers(task_id: int, user_message_id: int, before_message_id: int) -> list[Subtask]:
    """The answers given to the turn of ``user_message_id`` before ``before_message_id`` that
    completed, oldest first (a multi-bot team's members answering one message)."""
    return list(
        Subtask.objects.filter(
            task_id=task_id,
            role=Subtask.ASSISTANT,
            status=statuses.COMPLETED,
            message_id__gt=user_message_id,
            message_id__lt=before_message_id,
            reply_to_subtask_id=0,
        ).order_by("message_id")
    )


def user_message_before(task: TaskResource, message_id: int) -> int:
    """The number of the newest user message before ``message_id`` (the turn it belongs to)."""
    found = Subtask.objects.filter(task=task, role=Subtask.USER, message_id__lt=message_id).aggregate(
        last=Max("message_id")
    )["last"]
    return found or 0


def subtask_row(subtask_id: int) -> Subtask | None:
    return Subtask.objects.filter(pk=subtask_id).first()


def is_running(subtask_id: int) -> bool:
    return Subtask.objects.filter(pk=subtask_id, status=statuses.RUNNING).exists()


def is_message_of(task: TaskResource, subtask_id: int) -> bool:
    return Subtask.objects.filter(pk=subtask_id, task=task).exists()


def answer_in(task: TaskResource, subtask_id: int) -> Subtask | None:
    """The task's ASSISTANT message with this id."""
    return Subtask.objects.filter(pk=subtask_id, task=task, role=Subtask.ASSISTANT).first()


def has_user_message(task: TaskResource, message_id: int) -> bool:
    return Subtask.objects.filter(task=task, role=Subtask.USER, message_id=message_id).exists()


def attachment_ids_of_message(task: TaskResource, message_id: int) -> list[int]:
    """The attachment ids of the task's USER message ``message_id`` (what a retried answer's
    file reader may read)."""
    return list(
        SubtaskContext.objects.filter(
            subtask__task=task,
            subtask__role=Subtask.USER,
            subtask__message_id=message_id,
            context_type=SubtaskContext.ATTACHMENT,
        )
        .order_by("id")
        .values_list("pk", flat=True)
    )


def subtask_with_task(subtask_id: int) -> Subtask | None:
    """A message with its task (whatever the task's state or owner)."""
    return Subtask.objects.filter(pk=subtask_id).select_related("task").first()


def approved_member_ids(task_id: int) -> list[int]:
    return list(approved_members(task_id).values_list("user_id", flat=True))


# --- the list routes ------------------------------------------------------------------------------


def _with_owner(rows: QuerySet[TaskResource]) -> QuerySet[TaskResource]:
    # Lists show only the owner's name; skip decoding the rest of each user.
    return rows.select_related("owner").defer("owner__git_info", "owner__preferences", "owner__password")


def all_tasks(actor: User) -> QuerySet[TaskResource]:
    """``/tasks``: own and joined group chats, newest first."""
    return _with_owner(listed_tasks(actor)).order_by("-id")


def group_tasks(actor: User) -> QuerySet[TaskResource]:
    """``/tasks/lite/group``: group chats (own and joined), most recently active first."""
    return listed_tasks(actor).filter(is_group_chat=True).order_by("-updated_at", "-id")


def personal_tasks(actor: User, modes: list[str] | None) -> QuerySet[TaskResource]:
    """``/tasks/lite/personal``: own tasks that are not group chats, newest first."""
    rows = TaskResource.objects.filter(owner=actor, kind=TASK, listed=True, is_group_chat=False)
    if modes:
        # A task without a ``type`` label is a chat ("online") task.
        wanted = Q(task_mode__in=modes) | Q(task_mode="") if "online" in modes else Q(task_mode__in=modes)
        rows = rows.filter(wanted)
    return rows.order_by("-id")


def new_tasks(actor: User, since_id: int) -> QuerySet[TaskResource]:
    return listed_tasks(actor).filter(pk__gt=since_id).order_by("-id")


def search_tasks(actor: User, title: str) -> QuerySet[TaskResource]:
    return _with_owner(listed_tasks(actor).filter(title__icontains=title)).order_by("-id")


# --- projects (folders of tasks) -----------------------------------------------------------------


def projects_for(actor: User) -> QuerySet[Project]:
    """``actor``'s folders, in sidebar order: ``sort_order``, then creation."""
    return Project.objects.filter(user=actor, is_active=True).order_by("sort_order", "id")


def owned_project(actor: User, project_id: int, *, lock: bool = False) -> Project:
    """One of ``actor``'s folders; 404 "Project not found" for anyone else's (folders are
    per user). ``lock`` holds the row until the transaction ends, so a folder being deleted
    takes no new tasks."""
    if not 0 < project_id <= MAX_ID:
        raise ProjectNotFound()
    rows = Project.objects.select_for_update() if lock else Project.objects
    project = rows.filter(pk=project_id, user=actor, is_active=True).first()
    if project is None:
        raise ProjectNotFound()
    return project


def project_tasks(actor: User, project_ids: list[int]) -> QuerySet[TaskResource]:
    """The live tasks filed in these folders of ``actor``, most recently updated first. Only
    the folder owner's own tasks count (only a task's owner can file it)."""
    return TaskResource.objects.filter(
        owner=actor, project_id__in=project_ids, kind=TASK, is_active=True
    ).order_by("-updated_at", "-id")


def project_task_counts(actor: User, project_ids: list[int]) -> dict[int, int]:
    """How many live tasks each of these folders holds, in one query."""
    rows = project_tasks(actor, project_ids).order_by().values("project_id").annotate(n=Count("id"))
    return {row["project_id"]: row["n"] for row in rows}
