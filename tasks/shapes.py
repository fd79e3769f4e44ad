"""The wire shapes of tasks and messages (reference §6.7, §6.8), built in batches.

Every builder takes many rows at once and loads what they refer to (teams, workspaces, bots,
contexts, senders) in a fixed number of queries, so a page or a long conversation costs the
same number of queries as a short one.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count, QuerySet

from accounts.api.shapes import user_in_db
from accounts.models import User
from kinds import selectors as kind_selectors
from kinds import shapes as kind_shapes
from kinds.models import Kind
from tasks import documents, selectors
from tasks.models import Subtask, SubtaskContext, TaskResource
from wegent import crypto

DETAIL_MESSAGES = 100


# --- tasks ---------------------------------------------------------------------------------------

_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key)", re.IGNORECASE)
# The password of a connection URL such as mysql://user:password@host/db.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def shown_app(app: Any) -> dict[str, Any] | None:
    """``status.app`` as clients see it: credentials in it (e.g. the password in the preview
    database's ``mysql`` connection URL) masked, whoever asks."""
    if not isinstance(app, dict):
        return None

    def mask(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: mask(v, str(k)) for k, v in value.items()}
        if isinstance(value, str) and value and _SECRET_KEY.search(key):
            return crypto.mask(value)
        if isinstance(value, str):
            return _URL_PASSWORD.sub(r"\1****\3", value)
        return value

    return mask(app)


class TaskContext:
    """The teams and workspaces of some tasks, loaded in two queries."""

    def __init__(self, tasks: list[TaskResource]) -> None:
        self.teams = kind_selectors.RowIndex.load(
            ("Team", task.spec.get("teamRef"), task.owner_id) for task in tasks
        )
        self.workspaces = selectors.workspaces_for(tasks)

    def team(self, task: TaskResource) -> Kind | None:
        return self.teams.resolve("Team", task.spec.get("teamRef"), task.owner_id)

    def team_id(self, task: TaskResource) -> int | None:
        team = self.team(task)
        return team.pk if team is not None else None

    def repository(self, task: TaskResource) -> dict[str, Any]:
        workspace = self.workspaces.get(task.pk)
        repository = workspace.spec.get("repository") if workspace is not None else None
        return repository if isinstance(repository, dict) else {}


def _labels(task: TaskResource) -> tuple[str, str]:
    labels = task.labels
    return str(labels.get("type") or "online"), str(labels.get("taskType") or "chat")


def completed_at(task: TaskResource) -> Any:
    return documents.parse_iso(task.state.get("completedAt"))


def knowledge_base_id(task: TaskResource) -> int | None:
    refs = task.spec.get("knowledgeBaseRefs")
    first = refs[0] if isinstance(refs, list) and refs and isinstance(refs[0], dict) else None
    value = first.get("id") if first is not None else None
    return value if isinstance(value, int) else None


def task_in_db(task: TaskResource, context: TaskContext) -> dict[str, Any]:
    """``TaskInDB``."""
    mode, task_type = _labels(task)
    repository = context.repository(task)
    state = task.state
    return {
        "title": task.spec.get("title") or "",
        "type": mode,
        "task_type": task_type,
        "team_id": context.team_id(task),
        "git_url": repository.get("gitUrl") or "",
        "git_repo": repository.get("gitRepo") or "",
        "git_repo_id": repository.get("gitRepoId") or 0,
        "git_domain": repository.get("gitDomain") or "",
        "branch_name": repository.get("branchName") or "",
        "prompt": task.spec.get("prompt") or "",
        "status": task.status,
        "progress": state.get("progress") or 0,
        "result": state.get("result"),
        "error_message": state.get("errorMessage"),
        "id": task.pk,
        "user_id": task.owner_id,
        "user_name": task.owner.user_name,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "completed_at": completed_at(task),
        "is_group_chat": task.is_group_chat,
        "preserve_executor": task.labels.get("preserveExecutor") == "true",
    }


def tasks_in_db(tasks: list[TaskResource]) -> list[dict[str, Any]]:
    context = TaskContext(tasks)
    return [task_in_db(task, context) for task in tasks]


def task_lite(task: TaskResource, context: TaskContext) -> dict[str, Any]:
    """``TaskLite``."""
    mode, task_type = _labels(task)
    return {
        "id": task.pk,
        "title": task.spec.get("title") or "",
        "status": task.status,
        "task_type": task_type,
        "type": mode,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "completed_at": completed_at(task),
        "team_id": context.team_id(task),
        "git_repo": context.repository(task).get("gitRepo") or "",
        "is_group_chat": task.is_group_chat,
        "knowledge_base_id": knowledge_base_id(task),
    }


def tasks_lite(tasks: list[TaskResource]) -> list[dict[str, Any]]:
    context = TaskContext(tasks)
    return [task_lite(task, context) for task in tasks]


# --- messages ------------------------------------------------------------------------------------


def context_brief(context: SubtaskContext) -> dict[str, Any]:
    """``ContextBrief``: what a message lists about each thing attached to it."""
    brief: dict[str, Any] = {
        "id": context.pk,
        "context_type": context.context_type,
        "name": context.name,
        "status": context.status,
    }
    data = context.type_data if isinstance(context.type_data, dict) else {}
    if context.context_type == SubtaskContext.ATTACHMENT:
        brief.update(
            file_extension=data.get("file_extension"),
            file_size=data.get("file_size"),
            mime_type=data.get("mime_type"),
        )
    elif context.context_type in (SubtaskContext.KNOWLEDGE_BASE, SubtaskContext.SELECTED_DOCUMENTS):
        brief["document_count"] = data.get("document_count")
    elif context.context_type == SubtaskContext.TABLE:
        source = data.get("source_config")
        brief["source_config"] = {"url": source.get("url") if isinstance(source, dict) else None}
    return brief


def _sender_type(row: Subtask) -> str | None:
    return row.sender_type or None


def subtask_in_db(row: Subtask, contexts: list[SubtaskContext]) -> dict[str, Any]:
    """``SubtaskInDB``."""
    sender = row.sender_user
    return {
        "id": row.pk,
        "task_id": row.task_id,
        "team_id": row.team_id,
        "title": row.title,
        "bot_ids": row.bot_ids if isinstance(row.bot_ids, list) else [],
        "role": row.role,
        "prompt": row.prompt,
        "executor_namespace": row.executor_namespace,
        "executor_name": row.executor_name,
        "message_id": row.message_id,
        "parent_id": row.parent_id,
        "status": row.status,
        "progress": row.progress,
        "result": row.result,
        "error_message": row.error_message,
        "user_id": row.user_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "completed_at": row.completed_at,
        "executor_deleted_at": row.executor_deleted_at,
        "contexts": [context_brief(context) for context in contexts],
        "attachments": [],
        "sender_type": _sender_type(row),
        "sender_user_id": row.sender_user_id or 0,
        "sender_user_name": sender.user_name if sender is not None else None,
        "reply_to_subtask_id": row.reply_to_subtask_id,
    }


def subtasks_in_db(rows: list[Subtask]) -> list[dict[str, Any]]:
    contexts = selectors.contexts_by_message([row.pk for row in rows])
    return [subtask_in_db(row, contexts.get(row.pk, [])) for row in rows]


BOT_FIELDS = (
    "id",
    "user_id",
    "name",
    "shell_type",
    "agent_config",
    "system_prompt",
    "mcp_servers",
    "is_active",
    "created_at",
    "updated_at",
)


def _bots_by_id(rows: list[Subtask]) -> dict[int, dict[str, Any]]:
    ids = {bot_id for row in rows for bot_id in (row.bot_ids or []) if isinstance(bot_id, int)}
    if not ids:
        return {}
    bots = list(Kind.objects.filter(pk__in=ids, kind="Bot"))
    shown = kind_shapes.flat_bots(bots)
    return {flat["id"]: {key: flat[key] for key in BOT_FIELDS} for flat in shown}


def detail_subtasks(rows: list[Subtask]) -> list[dict[str, Any]]:
    """Messages as the task detail and ``task:join`` show them: with their bots."""
    bots = _bots_by_id(rows)
    shown = subtasks_in_db(rows)
    for row, item in zip(rows, shown, strict=True):
        item.pop("executor_deleted_at")
        item["bots"] = [bots[bot_id] for bot_id in (row.bot_ids or []) if bot_id in bots]
    return shown


def latest_messages(rows: QuerySet[Subtask], limit: int = DETAIL_MESSAGES) -> list[Subtask]:
    """The newest ``limit`` messages, oldest first."""
    newest = list(rows.order_by("-message_id")[:limit])
    newest.reverse()
    return newest


def member_count(task: TaskResource) -> int | None:
    if not task.is_group_chat:
        return None
    return selectors.approved_members(task.pk).aggregate(n=Count("id"))["n"] + 1


def task_detail(task: TaskResource, viewer: User) -> dict[str, Any]:
    """``TaskDetail``: the task, the caller, its team and its latest messages with their bots."""
    context = TaskContext([task])
    flat = task_in_db(task, context)
    team = context.team(task)
    state = task.state
    messages = latest_messages(selectors.visible_subtasks(task, viewer))
    return {
        "id": task.pk,
        "title": flat["title"],
        "git_url": flat["git_url"],
        "git_repo": flat["git_repo"],
        "git_repo_id": flat["git_repo_id"],
        "git_domain": flat["git_domain"],
        "branch_name": flat["branch_name"],
        "prompt": flat["prompt"],
        "status": flat["status"],
        "task_type": flat["task_type"],
        "progress": flat["progress"],
        "result": flat["result"],
        "error_message": flat["error_message"],
        "created_at": flat["created_at"],
        "updated_at": flat["updated_at"],
        "completed_at": flat["completed_at"],
        "user": user_in_db(viewer),
        "team": kind_shapes.flat_teams([team])[0] if team is not None else None,
        "subtasks": detail_subtasks(messages),
        "model_id": task.labels.get("modelId"),
        "is_group_chat": task.is_group_chat,
        "is_group_owner": task.owner_id == viewer.pk,
        "member_count": member_count(task),
        "app": shown_app(state.get("app")),
        "device_id": task.spec.get("device_id"),
        "preserve_executor": flat["preserve_executor"],
    }
