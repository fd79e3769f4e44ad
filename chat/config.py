"""Turning a Team into an LLM call: first bot, its ghost (system prompt) and model (reference
realtime §3.4), with the per-message or per-task model override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.connections import ModelConnection, connection_for
from kinds.models import Kind
from kinds.selectors import TeamContext
from kinds.specs.ghost import GhostView
from tasks.models import TaskResource
from wegent.errors import BadRequest

CHAT_SHELL = "Chat"
OVERRIDE_TYPES = ("public", "user", "group")


class ChatConfigError(BadRequest):
    """The team cannot be chatted with as configured (no bot, no model, unknown model)."""


@dataclass(frozen=True)
class ChatSetup:
    team: Kind
    bot: Kind
    shell_type: str
    system_prompt: str
    model: ModelConnection
    # The answering bot's Ghost as tool sources read it (MCP servers, skills); None without one.
    ghost: GhostView | None = None
    member_index: int = 0

    def may_use_tools(self, additional_skills: bool = False) -> bool:
        """Whether the Ghost (or the message) names anything a tool source opens; without
        that a turn's toolbox is empty unless the message has attachments."""
        ghost = self.ghost
        if additional_skills or settings.CHAT_MCP_ENABLED:  # operator MCP servers join every turn
            return True
        return ghost is not None and bool(ghost.mcp_servers or ghost.skills or ghost.preload_skills)


def supports_direct_chat(team: Kind, context: TeamContext | None = None) -> bool:
    """Every member bot runs on a Chat shell (the reference's rule for the direct LLM path)."""
    context = context or TeamContext([team])
    bots = [bot for _, bot in context.members(team)]
    return bool(bots) and all(context.shell_type(bot) == CHAT_SHELL for bot in bots)


def first_bot(team: Kind, context: TeamContext | None = None) -> tuple[dict[str, Any], Kind, TeamContext]:
    return member_bot(team, context, 0)


def member_bot(
    team: Kind, context: TeamContext | None, index: int
) -> tuple[dict[str, Any], Kind, TeamContext]:
    """The team's ``index``-th member whose bot resolves (multi-bot teams, chat/services/teams)."""
    context = context or TeamContext([team])
    members = context.members(team)
    if not members:
        raise ChatConfigError("No valid bots found in team")
    if not 0 <= index < len(members):
        raise ChatConfigError("Team member not found")
    member, bot = members[index]
    return member, bot, context


def system_prompt(ghost: Kind | None, member: dict[str, Any]) -> str:
    parts = [ghost.spec.get("systemPrompt") or "" if ghost is not None else "", member.get("prompt") or ""]
    text = "\n\n".join(part for part in parts if part)
    return f"<base_prompt>{text}</base_prompt>" if text else ""


def _override(
    task: TaskResource | None, model_name: str | None, model_type: str | None
) -> tuple[str | None, str | None]:
    """The message's override, else the task's stored one (labels), else none."""
    if model_name:
        return model_name, model_type
    if task is None:  # a new task: only the message can override
        return None, None
    labels = task.labels
    if labels.get("forceOverrideBotModel") == "true" and labels.get("modelId"):
        return labels["modelId"], labels.get("forceOverrideBotModelType")
    return None, None


def resolve(
    task: TaskResource | None,
    team: Kind,
    requester: User,
    *,
    model_name: str | None = None,
    model_type: str | None = None,
    context: TeamContext | None = None,
    member_index: int = 0,
) -> ChatSetup:
    """Everything one answer needs; ``ChatConfigError`` with a readable reason otherwise.

    ``task`` None: the first answer of a task not written yet (its stored override is the
    message's own). ``member_index``: which member answers (the first unless a multi-bot team's
    turn says otherwise); the override, when there is one, applies to every member."""
    member, bot, context = member_bot(team, context, member_index)
    override, override_type = _override(task, model_name, model_type)
    if override:
        model = kind_selectors.usable_model(requester, override, override_type)
        if model is None:
            raise ChatConfigError(f"Model {override} not found")
    else:
        model = context.components.resolve("Model", bot.spec.get("modelRef"), bot.owner_id)
        if model is None:
            raise ChatConfigError(f"Bot {bot.name} has no model configured")
    ghost = context.ghost(bot)
    return ChatSetup(
        team=team,
        bot=bot,
        shell_type=context.shell_type(bot) or CHAT_SHELL,
        system_prompt=system_prompt(ghost, member),
        model=connection_for(model, timeout=float(settings.CHAT_MODEL_TIMEOUT_SECONDS)),
        ghost=GhostView.of(ghost.spec) if ghost is not None else None,
        member_index=member_index,
    )
