"""Sharing a task by link: the read-only public view and copying it into one's own tasks (§6.7).

A share token is a ``ShareLink`` row (purpose "share") holding a random token, not the
reference's AES-encrypted "user_id#task_id": it cannot be forged or decoded, and the task it
points to is looked up, not trusted from the token. One active link per task is reused, so
sharing twice gives the same URL. A link works while its task is active and owned by the
link's creator.

Copying ("join") makes a new task owned by the caller with the shared task's messages. The copy
is marked with the label ``copiedFromTaskId`` (so a second copy is refused, as in the
reference); no ``ResourceMember`` row is written, because an approved row would make the caller
a member of the original task. Message contexts (attachments, knowledge bases) are not copied:
their files and indexes belong to the original owner.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE, Kind, ResourceMember, ShareLink
from tasks import documents, selectors, shapes, statuses
from tasks.models import PLACEHOLDER, PLACEHOLDER_NAME, TASK, WORKSPACE, Subtask, TaskResource
from tasks.services import events
from tasks.services.members import MAX_TOKEN_CHARS, is_expired, locked_task, require_owner, task_title
from wegent.errors import BadRequest, NotFound

SHARE = "share"
COPIED_FROM = "copiedFromTaskId"
INVALID_TOKEN = "Invalid share token"
UNAVAILABLE = "Task not found or no longer available"
PUBLIC_UNAVAILABLE = "This shared task is no longer available. It may have been deleted by the owner."
# The labels a copy takes over from the original; anything about how the original ran stays behind.
KEPT_LABELS = ("type", "taskType", "additionalSkills")
GIT_TYPES = ("github", "gitlab", "gitee", "gitea")
PUBLIC_MESSAGE_FIELDS = (
    "id",
    "role",
    "prompt",
    "result",
    "status",
    "created_at",
    "updated_at",
    "contexts",
    "sender_type",
    "sender_user_id",
    "sender_user_name",
    "reply_to_subtask_id",
)


# --- tokens ---------------------------------------------------------------------------------------


def share_url(token: str) -> str:
    return f"{settings.TASK_SHARE_BASE_URL}/shared/task?token={token}"


def _live_links() -> Any:
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return ShareLink.objects.filter(
        unexpired, purpose=SHARE, resource_type=ResourceMember.TASK, is_active=True
    )


def create_share_token(actor: User, task_id: int) -> str:
    """The share token of ``POST /tasks/{id}/share``: the owner's active link, or a new one."""
    with transaction.atomic():
        task = require_owner(actor, locked_task(task_id), "Only the task owner can share this task")
        link = _live_links().filter(resource_id=task.pk, created_by_id=task.owner_id).order_by("id").first()
        if link is None:
            link = ShareLink.objects.create(
                resource_type=ResourceMember.TASK,
                resource_id=task.pk,
                purpose=SHARE,
                token=secrets.token_urlsafe(32),
                require_approval=False,
                created_by=actor,
            )
    return link.token


def share_task(*, actor: User, task_id: int) -> dict[str, str]:
    token = create_share_token(actor, task_id)
    return {"share_url": share_url(token), "share_token": token}


def _resolve(token: Any) -> tuple[ShareLink | None, TaskResource | None]:
    """(the link, its task); the link is None for a token we never issued, the task None when
    the link was revoked or expired or its task is gone."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None, None
    link = ShareLink.objects.filter(token=token, purpose=SHARE, resource_type=ResourceMember.TASK).first()
    if link is None:
        return None, None
    if not link.is_active or is_expired(link):
        return link, None
    task = selectors.task_row(link.resource_id)
    if task is None or task.owner_id != link.created_by_id or task.status == statuses.DELETE:
        return link, None
    return link, task


def task_for_share_token(token: str) -> TaskResource | None:
    """The active task a valid, active share token points to; None otherwise."""
    return _resolve(token)[1]


def _shared(token: str, *, invalid: str, unavailable: str) -> TaskResource:
    link, task = _resolve(token)
    if link is None:
        raise BadRequest(invalid)
    if task is None:
        raise NotFound(unavailable)
    return task


# --- reading a shared task ------------------------------------------------------------------------


def _git_type(domain: str) -> str | None:
    lowered = domain.lower()
    return next((name for name in GIT_TYPES if name in lowered), None)


def share_info(*, actor: User, token: str) -> dict[str, Any]:
    """``TaskShareInfo``; repository fields only for code tasks (as the reference)."""
    task = _shared(token, invalid=INVALID_TOKEN, unavailable=UNAVAILABLE)
    task_type = str(task.labels.get("taskType") or "chat")
    info: dict[str, Any] = {
        "user_id": task.owner_id,
        "user_name": task.owner.user_name,
        "task_id": task.pk,
        "task_title": task_title(task),
        "task_type": task_type,
        "git_repo_id": None,
        "git_repo": None,
        "git_domain": None,
        "git_type": None,
        "branch_name": None,
    }
    workspace = selectors.workspace_for(task) if task_type == "code" else None
    repository = workspace.spec.get("repository") if workspace is not None else None
    if isinstance(repository, dict):
        domain = str(repository.get("gitDomain") or "")
        info.update(
            git_repo_id=repository.get("gitRepoId"),
            git_repo=repository.get("gitRepo"),
            git_domain=domain,
            git_type=_git_type(domain),
            branch_name=repository.get("branchName"),
        )
    return info


def public_shared_task(*, actor: User, token: str) -> dict[str, Any]:
    """The read-only view of a shared conversation: every message that is not deleted."""
    task = _shared(token, invalid="Invalid share link format", unavailable=PUBLIC_UNAVAILABLE)
    rows = list(
        Subtask.objects.filter(task=task)
        .exclude(status=statuses.DELETE)
        .select_related("sender_user")
        .order_by("message_id")
    )
    messages = [{key: item[key] for key in PUBLIC_MESSAGE_FIELDS} for item in shapes.subtasks_in_db(rows)]
    return {
        "task_title": task_title(task),
        "sharer_name": task.owner.user_name,
        "sharer_id": task.owner_id,
        "subtasks": messages,
        "created_at": task.created_at,
    }


# --- copying a shared task ------------------------------------------------------------------------


@dataclass
class JoinOptions:
    """The body of ``POST /tasks/share/join``."""

    share_token: str
    team_id: int | None = None
    model_id: str | None = None
    force_override_bot_model: bool = False
    force_override_bot_model_type: str | None = None
    git_repo_id: int | None = None
    git_url: str | None = None
    git_repo: str | None = None
    git_domain: str | None = None
    branch_name: str | None = None


def _team_for_copy(actor: User, team_id: int | None) -> Kind:
    """The chosen team (readable by the caller), else the caller's first own team."""
    if team_id is not None:
        team = kind_selectors.readable_row(actor, "Team", team_id)
        if team is None:
            raise BadRequest("Invalid team_id or team does not belong to you")
        return team
    team = kind_selectors.scoped_rows(actor, "Team", DEFAULT_NAMESPACE).order_by("id").first()
    if team is None:
        raise BadRequest("You need to have at least one team to copy a shared task")
    return team


def _copy_labels(original: TaskResource, options: JoinOptions) -> dict[str, str]:
    labels = {key: str(original.labels[key]) for key in KEPT_LABELS if original.labels.get(key)}
    if labels.get("type") not in ("online", "offline"):
        labels["type"] = "online"
    if labels.get("taskType") == "summary":
        labels["taskType"] = "chat"
    labels.update(autoDeleteExecutor="false", source="web")
    labels[COPIED_FROM] = str(original.pk)
    # The reference forces the override whenever a model is chosen for the copy.
    force = bool(options.model_id) or options.force_override_bot_model
    if options.model_id:
        labels["modelId"] = options.model_id
    if force:
        labels["forceOverrideBotModel"] = "true"
        if options.force_override_bot_model_type:
            labels["forceOverrideBotModelType"] = options.force_override_bot_model_type
    return labels


def _check_repository(original: TaskResource, options: JoinOptions) -> None:
    if original.labels.get("taskType") == "code" and not (options.git_repo and options.branch_name):
        raise BadRequest(
            "Repository and branch must be selected for code tasks. "
            "Please ensure you have access to a repository."
        )


def _already_copied(actor: User, original: TaskResource) -> bool:
    return TaskResource.objects.filter(
        owner=actor,
        kind=TASK,
        is_active=True,
        **{f"document__metadata__labels__{COPIED_FROM}": str(original.pk)},
    ).exists()


def _create_copy(actor: User, original: TaskResource, team: Kind, options: JoinOptions) -> TaskResource:
    """A new task and workspace owned by ``actor``, ending COMPLETED so the conversation can go on.

    A fresh placeholder allocates the id: the caller's reserved id (``POST /api/tasks``) stays
    reserved for the chat they may be starting.
    """
    task = TaskResource.objects.create(owner=actor, kind=PLACEHOLDER, name=PLACEHOLDER_NAME, is_active=False)
    workspace_name = f"workspace-{task.pk}"
    TaskResource.objects.create(
        owner=actor,
        kind=WORKSPACE,
        name=workspace_name,
        document=documents.workspace_document(
            workspace_name,
            git_url=options.git_url or "",
            git_repo=options.git_repo or "",
            git_repo_id=options.git_repo_id or 0,
            git_domain=options.git_domain or "",
            branch_name=options.branch_name or "",
        ),
    )
    now = timezone.now()
    name = f"task-{task.pk}"
    document = documents.task_document(
        name,
        title=task_title(original),
        prompt=str(original.spec.get("prompt") or ""),
        team_ref={"name": team.name, "namespace": team.namespace, "user_id": team.user_id_or_zero},
        workspace_name=workspace_name,
        labels=_copy_labels(original, options),
        is_group_chat=False,
        now=now,
    )
    task.document = documents.changed(
        document,
        status=statuses.COMPLETED,
        progress=100,
        result=original.state.get("result"),
        completedAt=documents.iso(now),
    )
    task.kind, task.name, task.is_active = TASK, name, True
    task.save()
    return task


def _copy_messages(actor: User, original: TaskResource, copy: TaskResource, team: Kind) -> int:
    """Copies every message that is not deleted, as COMPLETED history of the new team.

    The copy lists the new team's bots (not the original's, which the caller may not read);
    replies are re-pointed to the copied messages.
    """
    bot_ids = [bot.pk for _, bot in kind_selectors.TeamContext([team]).members(team)]
    rows = list(Subtask.objects.filter(task=original).exclude(status=statuses.DELETE).order_by("message_id"))
    now = timezone.now()
    Subtask.objects.bulk_create(
        Subtask(
            task=copy,
            user=actor,
            team_id=team.pk,
            title=row.title,
            bot_ids=bot_ids,
            role=row.role,
            prompt=row.prompt,
            message_id=row.message_id,
            parent_id=row.parent_id,
            status=statuses.COMPLETED,
            progress=100,
            result=row.result,
            error_message=row.error_message,
            completed_at=now,
            sender_type=row.sender_type,
            sender_user_id=row.sender_user_id,
        )
        for row in rows
    )
    replies = {row.message_id: row.reply_to_subtask_id for row in rows if row.reply_to_subtask_id}
    if replies:
        old_numbers = {row.pk: row.message_id for row in rows}
        copied = {row.message_id: row for row in Subtask.objects.filter(task=copy)}
        changed = []
        for message_id, old_target in replies.items():
            target = copied.get(old_numbers.get(old_target, -1))
            if target is not None:
                copied[message_id].reply_to_subtask_id = target.pk
                changed.append(copied[message_id])
        Subtask.objects.bulk_update(changed, ["reply_to_subtask_id"])
    return len(rows)


def join_shared_task(*, actor: User, options: JoinOptions) -> dict[str, Any]:
    """Copies the shared task and its messages into a new task of the caller's."""
    team = _team_for_copy(actor, options.team_id)
    original = _shared(options.share_token, invalid=INVALID_TOKEN, unavailable=UNAVAILABLE)
    if original.owner_id == actor.pk:
        raise BadRequest("Cannot copy your own shared task")
    _check_repository(original, options)
    with transaction.atomic():
        # Lock the caller's row: two racing joins by the same user must not both copy.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        if _already_copied(actor, original):
            raise BadRequest("You have already copied this task")
        copy = _create_copy(actor, original, team, options)
        _copy_messages(actor, original, copy, team)
    events.task_changed(copy)
    return {"message": "Successfully copied shared task to your task list", "task_id": copy.pk}
