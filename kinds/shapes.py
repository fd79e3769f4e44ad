"""The flat bot and team objects (the reference's ``BotInDB`` and ``TeamInDB``).

The legacy ``/api/bots`` and ``/api/teams`` routes answer with them, and a task's detail shows
its team and its messages' bots in the same shapes, so they live here, outside the legacy
adapters. Each builder takes the rows already loaded by a ``RowIndex`` or ``TeamContext``: no
queries of its own.
"""

from __future__ import annotations

from typing import Any

from kinds import secrets
from kinds.graph import MODEL, RowIndex, TeamContext, load_components, shell_type
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.specs.bot import BotView
from kinds.specs.ghost import GhostView
from kinds.specs.team import MemberView

MODEL_SUFFIX = "-model"
AGENT_TYPES = {"Agno": "agno", "ClaudeCode": "claude", "Dify": "dify"}


# --- bots ----------------------------------------------------------------------------------------


def is_dedicated_model(bot: Kind, model: Kind | None) -> bool:
    """The bot's own custom-config model: ``<bot>-model`` in the bot's space, isCustomConfig."""
    return (
        model is not None
        and model.owner_id is not None
        and model.namespace == bot.namespace
        and model.scope == bot.scope
        and model.name == f"{bot.name}{MODEL_SUFFIX}"
        and model.spec.get("isCustomConfig") is True
    )


def agent_config(bot: Kind, model: Kind | None) -> dict[str, Any]:
    """The flat ``agent_config``: a binding, or the dedicated model's config (secrets masked)."""
    ref = BotView.of(bot.spec).model_ref
    if model is None or ref is None:
        return {}
    if is_dedicated_model(bot, model):
        shown = secrets.masked(MODEL, model.document)["spec"]
        config = dict(shown.get("modelConfig") or {})
        if shown.get("protocol"):
            config["protocol"] = shown["protocol"]
        return config
    namespace = ref.get("namespace") or DEFAULT_NAMESPACE
    bind_type = "user" if namespace == DEFAULT_NAMESPACE else "group"
    if model.owner_id is None:
        bind_type = "public"
    config = {"bind_model": model.name, "bind_model_type": bind_type}
    if namespace != DEFAULT_NAMESPACE:
        config["bind_model_namespace"] = namespace
    return config


def flat_bot(bot: Kind, components: RowIndex) -> dict[str, Any]:
    """The reference's ``BotInDB``."""
    view = BotView.of(bot.spec)
    ghost = components.resolve("Ghost", view.ghost_ref, bot.owner_id)
    shell = components.resolve("Shell", view.shell_ref, bot.owner_id)
    model = components.resolve(MODEL, view.model_ref, bot.owner_id)
    ghost_view = GhostView.of(ghost.spec if ghost is not None else {})
    return {
        "id": bot.pk,
        "user_id": bot.user_id_or_zero,
        "name": bot.name,
        "namespace": bot.namespace,
        "shell_name": view.shell_ref.get("name", "") if view.shell_ref is not None else "",
        "shell_type": shell_type(shell),
        "agent_config": agent_config(bot, model),
        "system_prompt": ghost_view.system_prompt,
        "mcp_servers": ghost_view.mcp_servers,
        "skills": list(ghost_view.skills),
        "preload_skills": list(ghost_view.preload_skills),
        "is_active": bot.is_active,
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
    }


def flat_bots(bots: list[Kind]) -> list[dict[str, Any]]:
    """``flat_bot`` of each bot, their components loaded in one query."""
    components = load_components(bots)
    return [flat_bot(bot, components) for bot in bots]


def bot_summary(bot: Kind, components: RowIndex) -> dict[str, Any]:
    """What a team lists about each of its bots."""
    view = BotView.of(bot.spec)
    shell = components.resolve("Shell", view.shell_ref, bot.owner_id)
    model = components.resolve(MODEL, view.model_ref, bot.owner_id)
    return {"agent_config": agent_config(bot, model), "agent_name": None, "shell_type": shell_type(shell)}


# --- teams ---------------------------------------------------------------------------------------


def recommended_mode(bind_mode: Any) -> str:
    modes = bind_mode if isinstance(bind_mode, list) else []
    if "chat" in modes and "code" in modes:
        return "both"
    return "code" if "code" in modes else "chat"


def agent_type(shell_type: str) -> str | None:
    return AGENT_TYPES.get(shell_type, shell_type.lower()) if shell_type else None


def share_status(team: Kind) -> int:
    metadata = team.document.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return 1 if isinstance(labels, dict) and labels.get("share_status") == "1" else 0


def member_fields(member: MemberView) -> dict[str, Any]:
    """A team member's own fields, as every flat team shows them."""
    return {
        "bot_prompt": member.prompt,
        "role": member.role,
        "requireConfirmation": member.require_confirmation,
    }


def flat_team(team: Kind, context: TeamContext) -> dict[str, Any]:
    """The reference's ``TeamInDB`` (as listed by ``GET /teams``)."""
    spec = team.spec
    members = context.member_views(team)
    bots = [
        {"bot_id": bot.pk, **member_fields(member), "bot": bot_summary(bot, context.components)}
        for member, bot in members
    ]
    owner = team.owner if team.owner_id is not None else None
    return {
        "name": team.name,
        "description": spec.get("description"),
        "bots": bots,
        "workflow": {"mode": spec.get("collaborationModel")},
        "bind_mode": spec.get("bind_mode"),
        "is_active": team.is_active,
        "icon": spec.get("icon"),
        "requires_workspace": spec.get("requiresWorkspace"),
        "id": team.pk,
        "user_id": team.user_id_or_zero,
        "namespace": team.namespace,
        "created_at": team.created_at,
        "updated_at": team.updated_at,
        "user": {"id": owner.pk, "user_name": owner.user_name} if owner is not None else None,
        "share_status": share_status(team),
        "agent_type": agent_type(context.shell_type(members[0][1])) if members else None,
        "recommended_mode": recommended_mode(spec.get("bind_mode")),
    }


def flat_teams(teams: list[Kind]) -> list[dict[str, Any]]:
    """``flat_team`` of each team, their graph loaded in two queries."""
    context = TeamContext(teams)
    return [flat_team(team, context) for team in teams]
