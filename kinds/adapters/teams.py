"""The flat ``/api/teams`` team (the user-facing "agent"), translated to and from a Team row.

``bots`` come from ``spec.members`` (each member's bot resolved as the team's owner sees it;
members whose bot is gone are skipped), ``workflow.mode`` is ``spec.collaborationModel``.
``share_status`` is 0 for a team of one's own (1 when its ``share_status`` label says "1");
2 (shared to me) never occurs because there is no sharing table yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.models import User
from kinds import access, registry, selectors, services
from kinds.adapters import (
    MAX_ROW_ID,
    RowIndex,
    can_read_row,
    dedupe,
    group_role_denied,
    locked_row_by_id,
    rename_row,
    row_by_id,
    running_tasks_of,
    scope_namespaces,
)
from kinds.adapters import bots as bot_adapter
from kinds.exceptions import AlreadyExists
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from wegent.errors import BadRequest, Forbidden, NotFound

TEAM, BOT, GHOST, SHELL = "Team", "Bot", "Ghost", "Shell"
DEFAULT_MODE = "pipeline"
DUPLICATE_NAME = "Team name already exists, please modify the name"
NOT_FOUND = "Team not found"
AGENT_TYPES = {"Agno": "agno", "ClaudeCode": "claude", "Dify": "dify"}

# Called as hook(team, old_name) after a team is renamed, inside the rename's transaction. The
# tasks app registers one that rewrites ``spec.teamRef.name`` in the owner's tasks.
on_team_renamed: list[Callable[[Kind, str], None]] = []


def _type() -> KindType:
    kind_type = registry.by_kind(TEAM)
    assert kind_type is not None
    return kind_type


# --- reading ---------------------------------------------------------------------------------


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


class TeamContext:
    """The bots of some teams and those bots' ghosts, shells and models, in two queries."""

    def __init__(self, teams: list[Kind]) -> None:
        self.bots = RowIndex.load(
            (BOT, member.get("botRef"), team.owner_id) for team in teams for member in _members(team)
        )
        self.components = bot_adapter.load_components(
            bot for team in teams for _, bot in self._resolve_members(team)
        )

    def _resolve_members(self, team: Kind) -> list[tuple[dict[str, Any], Kind]]:
        resolved = []
        for member in _members(team):
            bot = self.bots.resolve(BOT, member.get("botRef"), team.owner_id)
            if bot is not None:
                resolved.append((member, bot))
        return resolved

    def members(self, team: Kind) -> list[tuple[dict[str, Any], Kind]]:
        """(member, bot row) for each member whose bot resolves."""
        return self._resolve_members(team)

    def shell_type(self, bot: Kind) -> str:
        return bot_adapter.shell_type(self.components.resolve(SHELL, bot.spec.get("shellRef"), bot.owner_id))

    def ghost(self, bot: Kind) -> Kind | None:
        return self.components.resolve(GHOST, bot.spec.get("ghostRef"), bot.owner_id)


def _members(team: Kind) -> list[dict[str, Any]]:
    members = team.spec.get("members")
    return [member for member in members if isinstance(member, dict)] if isinstance(members, list) else []


def _member_fields(member: dict[str, Any]) -> dict[str, Any]:
    return {
        "bot_prompt": member.get("prompt") or "",
        "role": member.get("role") or "",
        "requireConfirmation": bool(member.get("requireConfirmation")),
    }


def flat_team(team: Kind, context: TeamContext) -> dict[str, Any]:
    """The reference's ``TeamInDB`` (as listed by ``GET /teams``)."""
    spec = team.spec
    members = context.members(team)
    bots = [
        {"bot_id": bot.pk, **_member_fields(member), "bot": bot_adapter.bot_summary(bot, context.components)}
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
    context = TeamContext(teams)
    return [flat_team(team, context) for team in teams]


def team_rows(*, actor: User, scope: str, group_name: str | None) -> QuerySet[Kind]:
    """``personal``: own teams and public ones; ``group``: teams of one or all readable groups
    (sub-groups included); ``all``: both. Newest change first."""
    personal, groups = scope_namespaces(actor=actor, scope=scope, group_name=group_name)
    condition: Q | None = None
    if personal:
        condition = Q(namespace=DEFAULT_NAMESPACE, owner=actor) | Q(
            namespace=DEFAULT_NAMESPACE, owner__isnull=True
        )
    if groups:
        in_groups = Q(namespace__in=groups)
        condition = in_groups if condition is None else condition | in_groups
    if condition is None:
        return Kind.objects.none()
    return (
        Kind.objects.filter(condition, kind=TEAM, is_active=True)
        .select_related("owner")
        # The list shows only the owner's id and name; skip decoding the rest of each user.
        .defer("owner__git_info", "owner__preferences", "owner__password")
        .order_by("-updated_at", "-id")
    )


def readable_team(*, actor: User, team_id: int) -> Kind:
    """Own, public, or a group's team where the actor has at least Reporter; else 403/404."""
    team = row_by_id(TEAM, team_id)
    if team is None:
        raise NotFound(NOT_FOUND)
    if not can_read_row(actor, team):
        raise Forbidden("Access denied to this team")
    return team


def team_detail(*, actor: User, team_id: int) -> tuple[dict[str, Any], User | None]:
    """``TeamDetail``: the listed fields with full bots; and the owner (None for public teams)."""
    team = readable_team(actor=actor, team_id=team_id)
    context = TeamContext([team])
    detail = flat_team(team, context)
    detail["bots"] = [
        {"bot": bot_adapter.flat_bot(bot, context.components), **_member_fields(member)}
        for member, bot in context.members(team)
    ]
    return detail, team.owner if team.owner_id is not None else None


def team_skills(*, actor: User, team_id: int) -> dict[str, Any]:
    """Skills and preload skills over the ghosts of the team's bots (first seen first)."""
    team = readable_team(actor=actor, team_id=team_id)
    context = TeamContext([team])
    skills: list[str] = []
    preload: list[str] = []
    for _, bot in context.members(team):
        ghost = context.ghost(bot)
        if ghost is None:
            continue
        skills += bot_adapter.string_list(ghost.spec.get("skills"))
        preload += bot_adapter.string_list(ghost.spec.get("preload_skills"))
    return {
        "team_id": team.pk,
        "team_namespace": team.namespace,
        "skills": dedupe(skills),
        "preload_skills": dedupe(preload),
    }


def running_tasks(*, actor: User, team_id: int) -> dict[str, Any]:
    """Tasks of the team still pending or running."""
    team = readable_team(actor=actor, team_id=team_id)
    return running_tasks_of([team], with_team_name=False)


def team_summaries(ids: list[int], user: User) -> dict[int, dict[str, Any]]:
    """Quick-access provider: ``{id: {name, agent_type, recommended_mode, is_system}}`` for the
    teams among ``ids`` that ``user`` may see (own, group with Reporter, public)."""
    wanted = [team_id for team_id in ids if isinstance(team_id, int) and 0 < team_id <= MAX_ROW_ID]
    if not wanted:
        return {}
    rows = Kind.objects.filter(pk__in=wanted, kind=TEAM, is_active=True).select_related("owner")
    teams = [team for team in rows if can_read_row(user, team)]
    return {
        flat["id"]: {
            "name": flat["name"],
            "agent_type": flat["agent_type"],
            "recommended_mode": flat["recommended_mode"],
            "is_system": flat["user_id"] == 0,
        }
        for flat in flat_teams(teams)
    }


# --- writing ---------------------------------------------------------------------------------


def _usable_bot(actor: User, bot: Kind, namespace: str) -> bool:
    """Which bots a team in ``namespace`` may use: public bots; for a personal team the actor's
    own bots and bots of groups they can read; for a group team the group's bots."""
    if bot.owner_id is None:
        return bot.namespace == DEFAULT_NAMESPACE
    if not access.is_personal(namespace):
        return bot.namespace == namespace
    if bot.namespace == DEFAULT_NAMESPACE:
        return bot.owner_id == actor.pk
    return access.can(actor, bot.namespace, access.READ)


def build_members(*, actor: User, namespace: str, bots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spec.members`` from the flat ``bots``, with the reference's 400s."""
    if not bots:
        raise BadRequest("bots cannot be empty")
    ids = dedupe(item["bot_id"] for item in bots)
    rows = Kind.objects.filter(pk__in=[i for i in ids if 0 < i <= MAX_ROW_ID], kind=BOT, is_active=True)
    usable = {row.pk: row for row in rows if _usable_bot(actor, row, namespace)}
    missing = [str(i) for i in ids if i not in usable]
    if missing:
        raise BadRequest(f"Invalid or inactive bot_ids: {', '.join(missing)}")
    if len(bots) > 1:
        components = bot_adapter.load_components(usable.values())
        for row in usable.values():
            shell = components.resolve(SHELL, row.spec.get("shellRef"), row.owner_id)
            if bot_adapter.execution_type(shell) == "external_api":
                raise BadRequest(
                    f"Teams using external API shells ({bot_adapter.shell_type(shell)}) must have "
                    f"exactly one bot. Found {len(bots)} bots."
                )
    return [
        {
            "botRef": {"name": usable[item["bot_id"]].name, "namespace": usable[item["bot_id"]].namespace},
            "prompt": item.get("bot_prompt") or "",
            "role": item.get("role") or "",
            "requireConfirmation": bool(item.get("requireConfirmation")),
        }
        for item in bots
    ]


def _mode(workflow: Any) -> str:
    mode = workflow.get("mode") if isinstance(workflow, dict) else None
    return mode if isinstance(mode, str) and mode else DEFAULT_MODE


@transaction.atomic
def create_team(
    *,
    actor: User,
    name: str,
    bots: list[dict[str, Any]],
    description: str | None = None,
    workflow: dict[str, Any] | None = None,
    bind_mode: list[str] | None = None,
    icon: str | None = None,
    requires_workspace: bool | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> Kind:
    if not access.can(actor, namespace, access.CREATE):
        raise group_role_denied(namespace, access.CREATE, "teams")
    if selectors.find(actor, TEAM, namespace, name) is not None:
        raise BadRequest(DUPLICATE_NAME)
    spec: dict[str, Any] = {
        "members": build_members(actor=actor, namespace=namespace, bots=bots),
        "collaborationModel": _mode(workflow),
    }
    for key, value in (
        ("bind_mode", bind_mode),
        ("description", description),
        ("icon", icon),
        ("requiresWorkspace", requires_workspace),
    ):
        if value is not None:
            spec[key] = value
    try:
        return services.create_resource(
            actor=actor,
            kind_type=_type(),
            namespace=namespace,
            body={"kind": TEAM, "metadata": {"name": name}, "spec": spec},
        )
    except AlreadyExists as exc:  # a concurrent create of the same name
        raise BadRequest(DUPLICATE_NAME) from exc


def _writable_team(actor: User, team_id: int, action: str) -> Kind:
    """The team, locked, if the actor may change it (public teams are read-only here)."""
    team = locked_row_by_id(TEAM, team_id)
    if team is None:
        raise NotFound(NOT_FOUND)
    if team.owner_id is None or (access.is_personal(team.namespace) and team.owner_id != actor.pk):
        raise Forbidden("Access denied")
    if not access.can(actor, team.namespace, action):
        raise group_role_denied(team.namespace, action, "this team")
    return team


@transaction.atomic
def update_team(*, actor: User, team_id: int, changes: dict[str, Any]) -> Kind:
    """Partial update; a rename keeps the id and checks the name is free."""
    team = _writable_team(actor, team_id, access.UPDATE)
    if changes.get("namespace") not in (None, team.namespace):
        raise BadRequest("A team cannot be moved to another namespace")
    new_name = changes.get("name")
    if new_name and new_name != team.name:
        old_name = team.name
        team = rename_row(team, new_name, taken=BadRequest(DUPLICATE_NAME))
        for hook in on_team_renamed:
            hook(team, old_name)
    spec = dict(team.spec)
    if "bots" in changes:
        spec["members"] = build_members(actor=actor, namespace=team.namespace, bots=changes["bots"] or [])
    if "workflow" in changes:
        spec["collaborationModel"] = _mode(changes["workflow"])
    for field, key in (
        ("bind_mode", "bind_mode"),
        ("description", "description"),
        ("icon", "icon"),
        ("requires_workspace", "requiresWorkspace"),
    ):
        if field in changes:
            spec[key] = changes[field]
    if spec != team.spec:
        services.update_resource(
            actor=actor,
            kind_type=_type(),
            namespace=team.namespace,
            name=team.name,
            body={"kind": TEAM, "metadata": dict(team.document.get("metadata") or {}), "spec": spec},
        )
    team.refresh_from_db()
    return team


@transaction.atomic
def delete_team(*, actor: User, team_id: int, force: bool = False) -> None:
    """Hard-deletes the team; refused (400) while tasks of it are pending or running, unless
    ``force``."""
    team = _writable_team(actor, team_id, access.DELETE)
    running = running_tasks_of([team], with_team_name=False)
    if running["has_running_tasks"] and not force:
        raise BadRequest(
            f"Team '{team.name}' has {running['running_tasks_count']} running task(s). "
            "Wait for them to finish or delete with force=true."
        )
    services.delete_row(team)
