"""The formatted task an executor runs (reference realtime §5.3): the dispatch response, the push
body and ``task:execute`` share it.

It carries secrets in clear for the executor alone: the model key (in ``bot[].agent_config``),
the user's git token and a user token. Build it only to hand it over; never log it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jwt
from django.conf import settings

from accounts.models import User
from accounts.services.tokens import issue_access_token
from kinds import secrets
from kinds import selectors as kind_selectors
from kinds.models import Kind
from kinds.selectors import TeamContext
from kinds.specs.ghost import GhostView
from kinds.specs.team import TeamView
from tasks import selectors as task_selectors
from tasks.models import Subtask, TaskResource
from tasks.services import messages as task_messages
from wegent import crypto

STAGE_INPUT = "[Output of the previous stage, your input]"


def _git_identity(user: User, domain: str) -> dict[str, Any]:
    """The user's git entry for the workspace's domain (else their first one), token decrypted."""
    entries = [entry for entry in (user.git_info or []) if isinstance(entry, dict)]
    entry = next((e for e in entries if e.get("git_domain") == domain), entries[0] if entries else {})
    token = entry.get("git_token") or ""
    return {
        "id": user.pk,
        "name": user.user_name,
        "git_domain": entry.get("git_domain") or "",
        "git_token": crypto.decrypt(token) if isinstance(token, str) else "",
        "git_id": str(entry.get("git_id") or ""),
        "git_login": entry.get("git_login") or "",
        "git_email": entry.get("git_email") or "",
        "user_name": entry.get("user_name") or user.user_name,
    }


def _model_for(task: TaskResource, bot: Kind, context: TeamContext) -> Kind | None:
    """The task's forced model (looked up for its owner), else the bot's own (reference §5.3)."""
    labels = task.labels
    if labels.get("forceOverrideBotModel") == "true" and labels.get("modelId"):
        forced = kind_selectors.usable_model(
            task.owner, labels["modelId"], labels.get("forceOverrideBotModelType")
        )
        if forced is not None:
            return forced
    own = context.model(bot)
    if own is not None:
        return own
    if labels.get("modelId"):
        return kind_selectors.usable_model(task.owner, labels["modelId"], None)
    return None


def _agent_config(model: Kind | None) -> dict[str, Any]:
    if model is None:
        return {}
    spec = secrets.revealed("Model", model.document).get("spec") or {}
    config = spec.get("modelConfig") if isinstance(spec.get("modelConfig"), dict) else {}
    env = config.get("env") if isinstance(config.get("env"), dict) else {}
    return {"env": dict(env)}


def _bots(task: TaskResource, team: Kind, answer: Subtask, context: TeamContext) -> list[dict[str, Any]]:
    wanted = set(answer.bot_ids or [])
    bots = []
    for member, bot in context.member_views(team):
        if wanted and bot.pk not in wanted:
            continue
        ghost_row = context.ghost(bot)
        ghost = GhostView.of(ghost_row.spec) if ghost_row is not None else None
        prompt = "\n".join(part for part in ((ghost.system_prompt if ghost else ""), member.prompt) if part)
        shell = context.shell(bot)
        bots.append(
            {
                "id": bot.pk,
                "name": bot.name,
                "shell_type": context.shell_type(bot),
                "agent_config": _agent_config(_model_for(task, bot, context)),
                "system_prompt": prompt,
                "mcp_servers": dict(ghost.mcp_servers) if ghost else {},
                "skills": list(ghost.skills) if ghost else [],
                "role": member.role,
                "base_image": (shell.spec.get("baseImage") or "") if shell is not None else "",
            }
        )
    return bots


def _task_token(task: TaskResource, answer: Subtask, lifetime: dt.timedelta) -> str:
    claims = {
        "task_id": task.pk,
        "subtask_id": answer.pk,
        "user_id": task.owner_id,
        "user_name": task.owner.user_name,
        "type": "task",
        "exp": dt.datetime.now(dt.UTC) + lifetime,
    }
    return jwt.encode(claims, settings.JWT_SECRET_KEY, algorithm="HS256")


def _prompt(task: TaskResource, answer: Subtask) -> str:
    """The user's message; a later pipeline stage gets the previous stage's output with it (the
    reference: "user prompt + previous stage result"), a stage the owner confirmed only the text
    they confirmed (its answer follows the waiting stage's, not the user's message)."""
    question = Subtask.objects.filter(task=task, message_id=answer.parent_id, role=Subtask.USER).first()
    if answer.prompt and question is None:
        return answer.prompt
    if question is not None:
        asked = task_messages.model_texts(task, [question]).get(question.pk, question.prompt)
    else:
        asked = str(task.spec.get("prompt") or "")
    if answer.prompt:
        return f"{asked}\n\n{STAGE_INPUT}\n{answer.prompt}"
    return asked


def format_task(
    task: TaskResource,
    answer: Subtask,
    team: Kind,
    *,
    context: TeamContext | None = None,
    executor_name: str = "",
    executor_namespace: str = "",
) -> dict[str, Any]:
    context = context or TeamContext([team])
    owner = task.owner
    workspace = task_selectors.workspace_for(task)
    repository = (workspace.spec.get("repository") or {}) if workspace is not None else {}
    lifetime = dt.timedelta(hours=settings.EXECUTOR_TASK_TOKEN_HOURS)
    git_domain = str(repository.get("gitDomain") or "")
    labels = task.labels
    attachments = [
        {
            "id": row.pk,
            "original_filename": row.name,
            "file_extension": (row.type_data or {}).get("file_extension"),
            "file_size": (row.type_data or {}).get("file_size"),
            "mime_type": (row.type_data or {}).get("mime_type"),
        }
        for row in task_selectors.contexts_by_message(
            list(Subtask.objects.filter(task=task, message_id=answer.parent_id).values_list("pk", flat=True))
        ).get(answer.parent_id, [])
    ]
    return {
        "subtask_id": answer.pk,
        "subtask_next_id": None,
        "task_id": task.pk,
        "type": labels.get("type") or "online",
        "is_subscription": labels.get("type") == "subscription",
        "executor_name": executor_name or answer.executor_name,
        "executor_namespace": executor_namespace or answer.executor_namespace,
        "subtask_title": answer.title,
        "task_title": task.title,
        "user": _git_identity(owner, git_domain),
        "bot": _bots(task, team, answer, context),
        "team_id": team.pk,
        "team_namespace": team.namespace,
        "mode": TeamView.of(team.spec).collaboration_model or "",
        "git_domain": git_domain,
        "git_repo": str(repository.get("gitRepo") or ""),
        "git_repo_id": repository.get("gitRepoId") or 0,
        "branch_name": str(repository.get("branchName") or ""),
        "git_url": str(repository.get("gitUrl") or ""),
        "backend_url": settings.EXECUTOR_BACKEND_URL,
        "prompt": _prompt(task, answer),
        "auth_token": issue_access_token(owner, lifetime=lifetime),
        "task_token": _task_token(task, answer, lifetime),
        "system_mcp_config": None,
        "attachments": attachments,
        "status": answer.status,
        "progress": answer.progress,
        "created_at": answer.created_at.isoformat(),
        "updated_at": answer.updated_at.isoformat(),
        "new_session": False,
        "user_selected_skills": _selected_skills(labels),
    }


def _selected_skills(labels: dict[str, Any]) -> list[str]:
    try:
        names = json.loads(labels.get("additionalSkills") or "[]")
    except ValueError:
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []
