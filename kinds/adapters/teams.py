"""The flat ``/api/teams`` team (the user-facing "agent"), translated to and from a Team row.

``bots`` come from ``spec.members`` (each member's bot resolved as the team's owner sees it;
members whose bot is gone are skipped), ``workflow.mode`` is ``spec.collaborationModel``.
``share_status`` is 0 for a team of one's own (1 when its ``share_status`` label says "1");
2 (shared to me) never occurs because there is no sharing table yet.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from accounts.models import User
from kinds import access, registry, selectors, services
from kinds.adapters import (
    can,
    dedupe,
    group_role_denied,
    locked_row_by_id,
    rename_row,
    row_by_id,
    rows_by_id,
    running_tasks_of,
    scope_namespaces,
)
from kinds.events import team_renamed
from kinds.exceptions import AlreadyExists
from kinds.graph import execution_type, load_components, shell_type
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from kinds.selectors import TeamContext
from kinds.shapes import flat_bot, flat_team, flat_teams, member_fields
from kinds.specs.bot import BotView
from wegent.errors import BadRequest, Forbidden, NotFound

TEAM, BOT, SHELL = "Team", "Bot", "Shell"
DEFAULT_MODE = "pipeline"
DUPLICATE_NAME = "Team name already exists, please modify the name"
NOT_FOUND = "Team not found"
# ``kinds.events.team_renamed`` is called as hook(team, old_name) after a rename, inside its
# transaction: the tasks app re-points ``spec.teamRef.name`` in the owner's tasks.


def _type() -> KindType:
    kind_type = registry.by_kind(TEAM)
    assert kind_type is not None
    return kind_type


# --- reading ---------------------------------------------------------------------------------


def team_rows(*, actor: User, scope: str, group_name: str | None) -> QuerySet[Kind]:
    """``personal``: own teams and public ones; ``group``: teams of one or all readable groups
    (sub-groups included); ``all``: both. Newest change first."""
    personal, groups = scope_namespaces(actor=actor, scope=scope, group_name=group_name)
    return (
        selectors.visible_rows(actor, TEAM, own=personal, public=personal, groups=groups)
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
    if not can(actor, team, access.READ):
        raise Forbidden("Access denied to this team")
    return team


def team_detail(*, actor: User, team_id: int) -> tuple[dict[str, Any], User | None]:
    """``TeamDetail``: the listed fields with full bots; and the owner (None for public teams)."""
    team = readable_team(actor=actor, team_id=team_id)
    context = TeamContext([team])
    detail = flat_team(team, context)
    detail["bots"] = [
        {"bot": flat_bot(bot, context.components), **member_fields(member)}
        for member, bot in context.member_views(team)
    ]
    return detail, team.owner if team.owner_id is not None else None


def team_skills(*, actor: User, team_id: int) -> dict[str, Any]:
    """Skills and preload skills over the ghosts of the team's bots (first seen first)."""
    team = readable_team(actor=actor, team_id=team_id)
    skills, preload = TeamContext([team]).skills(team)
    return {"team_id": team.pk, "team_namespace": team.namespace, "skills": skills, "preload_skills": preload}


def running_tasks(*, actor: User, team_id: int) -> dict[str, Any]:
    """Tasks of the team still pending or running."""
    team = readable_team(actor=actor, team_id=team_id)
    return running_tasks_of([team], with_team_name=False)


def team_summaries(ids: list[int], user: User) -> dict[int, dict[str, Any]]:
    """Quick-access provider: ``{id: {name, agent_type, recommended_mode, is_system}}`` for the
    teams among ``ids`` that ``user`` may see (own, group with Reporter, public)."""
    rows = rows_by_id(TEAM, {i for i in ids if isinstance(i, int)})
    teams = [team for team in rows.values() if can(user, team, access.READ)]
    if not teams:
        return {}
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
    if access.is_personal(namespace) or bot.owner_id is None:
        return can(actor, bot, access.READ)
    return bot.namespace == namespace


def build_members(*, actor: User, namespace: str, bots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spec.members`` from the flat ``bots``, with the reference's 400s."""
    if not bots:
        raise BadRequest("bots cannot be empty")
    ids = dedupe(item["bot_id"] for item in bots)
    usable = {pk: row for pk, row in rows_by_id(BOT, set(ids)).items() if _usable_bot(actor, row, namespace)}
    missing = [str(i) for i in ids if i not in usable]
    if missing:
        raise BadRequest(f"Invalid or inactive bot_ids: {', '.join(missing)}")
    if len(bots) > 1:
        components = load_components(usable.values())
        for row in usable.values():
            shell = components.resolve(SHELL, BotView.of(row.spec).shell_ref, row.owner_id)
            if execution_type(shell) == "external_api":
                raise BadRequest(
                    f"Teams using external API shells ({shell_type(shell)}) must have "
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
        for hook in team_renamed:
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
