"""The flat ``/api/bots`` bot, translated to and from Kind rows.

A flat bot is a ``Bot`` row plus the ``Ghost`` it points to (``<name>-ghost`` when created
here: system prompt, MCP servers, skills), the ``Shell`` it runs on (chosen by name: the
group's, the caller's own, or a public one) and optionally a ``Model``:

* ``agent_config = {"bind_model": X[, "bind_model_type": public|user|group][, "bind_model_namespace"]}``
  points ``modelRef`` at an existing model;
* any other non-empty ``agent_config`` is a custom config kept in the bot's dedicated model
  ``<name>-model`` (``spec.isCustomConfig = true``, ``protocol`` lifted to ``spec.protocol``),
  whose secrets are encrypted at rest and masked in every output;
* ``{}`` means no model.

Every write goes through ``kinds.services``; a rename keeps the row id (``rename_row``) and
re-points the teams that use the bot.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from accounts.models import User
from kinds import access, references, registry, selectors, services
from kinds.adapters import (
    can,
    group_role_denied,
    locked_row_by_id,
    rename_row,
    running_tasks_of,
    scope_namespaces,
)
from kinds.exceptions import AlreadyExists, KindNotFound
from kinds.graph import load_components
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from kinds.shapes import MODEL_SUFFIX, is_dedicated_model
from wegent.errors import BadRequest, Forbidden, NotFound

BOT, GHOST, SHELL, MODEL, TEAM = "Bot", "Ghost", "Shell", "Model", "Team"
GHOST_SUFFIX = "-ghost"
# A bot's name leaves room for its dedicated "-ghost"/"-model" rows within the 100-character limit.
MAX_BOT_NAME = 100 - max(len(GHOST_SUFFIX), len(MODEL_SUFFIX))
BIND_KEYS = frozenset({"bind_model", "bind_model_type", "bind_model_namespace"})
BIND_TYPES = ("public", "user", "group")
DUPLICATE_NAME = "Bot name already exists, please modify the name"
NOT_FOUND = "Bot not found"


def _type(kind: str) -> KindType:
    kind_type = registry.by_kind(kind)
    assert kind_type is not None
    return kind_type


# --- reading ---------------------------------------------------------------------------------


def is_bind_config(config: dict[str, Any]) -> bool:
    """``{"bind_model": ...}`` with only the binding keys: a reference to an existing model."""
    return "bind_model" in config and set(config) <= BIND_KEYS


def bot_rows(*, actor: User, scope: str, group_name: str | None) -> QuerySet[Kind]:
    """``personal``: own bots; ``group``: bots of one or all readable groups; ``all``: both."""
    personal, groups = scope_namespaces(actor=actor, scope=scope, group_name=group_name)
    rows = selectors.visible_rows(actor, BOT, own=personal, public=False, groups=groups)
    return rows.select_related("owner").order_by("-created_at", "-id")


def visible_bot(*, actor: User, bot_id: int) -> Kind:
    """A bot the actor may read (own, group with Reporter, public); 404 otherwise."""
    bot = selectors.readable_row(actor, BOT, bot_id)
    if bot is None:
        raise NotFound(NOT_FOUND)
    return bot


def running_tasks(*, actor: User, bot_id: int) -> dict[str, Any]:
    """Tasks pending or running on teams that use the bot."""
    bot = visible_bot(actor=actor, bot_id=bot_id)
    return running_tasks_of(teams_using(bot), with_team_name=True)


# --- writing ---------------------------------------------------------------------------------


def _writable_bot(actor: User, bot_id: int, action: str) -> Kind:
    """The bot, locked, if the actor may change it: 404 if unreadable, 403 if read-only."""
    bot = locked_row_by_id(BOT, bot_id)
    if bot is None or not can(actor, bot, access.READ):
        raise NotFound(NOT_FOUND)
    if bot.owner_id is None:
        raise Forbidden("Public bots are read-only")
    if not can(actor, bot, action):
        raise group_role_denied(bot.namespace, action, "this bot")
    return bot


def _require_create(actor: User, namespace: str) -> None:
    if not access.can(actor, namespace, access.CREATE):
        raise group_role_denied(namespace, access.CREATE, "bots")


def find_shell(*, actor: User, name: str, namespace: str) -> dict[str, str]:
    """The ``shellRef`` for a shell chosen by name: the group's (for group bots), the actor's
    own (for personal bots), else the public one. 400 when none exists."""
    if access.is_personal(namespace):
        shell = selectors.resolve(actor, SHELL, name, DEFAULT_NAMESPACE)
    else:
        shell = selectors.resolve(actor, SHELL, name, namespace) or selectors.public_row(SHELL, name)
    if shell is None:
        raise BadRequest(f"Shell '{name}' not found")
    return {"name": shell.name, "namespace": shell.namespace}


def check_skills(*, actor: User, namespace: str, names: list[str]) -> None:
    """400 naming the skills that do not resolve (own, group or public), as the reference."""
    if not names:
        return
    try:
        references.check(actor=actor, kind=GHOST, document={"spec": {"skills": names}}, namespace=namespace)
    except KindNotFound as exc:
        raise BadRequest(exc.detail) from exc


def bound_model_ref(*, actor: User, namespace: str, config: dict[str, Any]) -> dict[str, str]:
    """The ``modelRef`` of a binding; 400 when the model does not exist for the actor."""
    name = config["bind_model"]
    bind_type = config.get("bind_model_type")
    if bind_type == "group":
        model_namespace = config.get("bind_model_namespace") or namespace
    else:
        model_namespace = config.get("bind_model_namespace") or DEFAULT_NAMESPACE
    if bind_type == "public":
        found = access.is_personal(model_namespace) and selectors.public_row(MODEL, name) is not None
    elif bind_type == "user" and access.is_personal(model_namespace):
        found = selectors.find(actor, MODEL, model_namespace, name) is not None
    elif bind_type == "group" and access.is_personal(model_namespace):
        found = False
    else:
        found = selectors.resolve(actor, MODEL, name, model_namespace) is not None
    if not found:
        raise BadRequest(f"Model '{name}' not found")
    return {"name": name, "namespace": model_namespace}


def _custom_model_body(name: str, config: dict[str, Any], stored: Kind | None = None) -> dict[str, Any]:
    protocol = config.get("protocol")
    spec = dict(stored.spec) if stored is not None else {}
    spec.update(
        modelConfig={key: value for key, value in config.items() if key != "protocol"},
        isCustomConfig=True,
        protocol=protocol,
    )
    metadata = dict(stored.document.get("metadata") or {}) if stored is not None else {}
    metadata["name"] = name
    return {"kind": MODEL, "metadata": metadata, "spec": spec}


def _create_dedicated_model(actor: User, bot_name: str, namespace: str, config: dict[str, Any]) -> dict:
    name = f"{bot_name}{MODEL_SUFFIX}"
    if selectors.find(actor, MODEL, namespace, name) is not None:
        raise BadRequest(f"Model '{name}' already exists, please modify the bot name")
    services.create_resource(
        actor=actor, kind_type=_type(MODEL), namespace=namespace, body=_custom_model_body(name, config)
    )
    return {"name": name, "namespace": namespace}


def _free_name(actor: User, kind: str, namespace: str, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever is free in the actor's space."""
    candidate, number = base, 1
    while selectors.find(actor, kind, namespace, candidate) is not None:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _ghost_body(name: str, spec: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": GHOST, "metadata": {**(metadata or {}), "name": name}, "spec": spec}


def _bot_body(bot: Kind, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": BOT, "metadata": dict(bot.document.get("metadata") or {}), "spec": spec}


@transaction.atomic
def create_bot(
    *,
    actor: User,
    name: str,
    shell_name: str,
    agent_config: dict[str, Any],
    system_prompt: str | None = None,
    mcp_servers: dict[str, Any] | None = None,
    skills: list[str] | None = None,
    preload_skills: list[str] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> Kind:
    """Creates the Ghost, the dedicated Model (custom config) and the Bot, all or nothing."""
    _require_create(actor, namespace)
    if selectors.find(actor, BOT, namespace, name) is not None:
        raise BadRequest(DUPLICATE_NAME)
    shell_ref = find_shell(actor=actor, name=shell_name, namespace=namespace)
    check_skills(actor=actor, namespace=namespace, names=[*(skills or []), *(preload_skills or [])])
    if not agent_config:
        model_ref = None
    elif is_bind_config(agent_config):
        model_ref = bound_model_ref(actor=actor, namespace=namespace, config=agent_config)
    else:
        model_ref = _create_dedicated_model(actor, name, namespace, agent_config)

    ghost_spec: dict[str, Any] = {"systemPrompt": system_prompt or "", "mcpServers": mcp_servers or {}}
    if skills:
        ghost_spec["skills"] = skills
    if preload_skills:
        ghost_spec["preload_skills"] = preload_skills
    ghost_name = _free_name(actor, GHOST, namespace, f"{name}{GHOST_SUFFIX}")
    services.create_resource(
        actor=actor, kind_type=_type(GHOST), namespace=namespace, body=_ghost_body(ghost_name, ghost_spec)
    )
    spec: dict[str, Any] = {"ghostRef": {"name": ghost_name, "namespace": namespace}, "shellRef": shell_ref}
    if model_ref is not None:
        spec["modelRef"] = model_ref
    try:
        return services.create_resource(
            actor=actor,
            kind_type=_type(BOT),
            namespace=namespace,
            body={"kind": BOT, "metadata": {"name": name}, "spec": spec},
        )
    except AlreadyExists as exc:  # a concurrent create of the same name
        raise BadRequest(DUPLICATE_NAME) from exc


def teams_using(bot: Kind) -> list[Kind]:
    return [row for row in selectors.referrers(bot) if row.kind == TEAM]


def _teams_for_change(actor: User, bot: Kind) -> list[Kind]:
    """Teams using the bot; 400 if the actor cannot change one of them."""
    teams = teams_using(bot)
    blocked = [team for team in teams if not can(actor, team, access.UPDATE)]
    if blocked:
        names = ", ".join(team.name for team in blocked)
        raise BadRequest(f"Bot '{bot.name}' is used by team(s) you cannot change: {names}")
    return teams


def retarget_members(*, actor: User, team: Kind, bot: Kind, old_name: str, new_name: str | None) -> None:
    """Points the team's members from bot ``old_name`` to ``new_name``, or drops them (None)."""
    members: list[Any] = []
    for member in team.spec.get("members") or []:
        ref = member.get("botRef") if isinstance(member, dict) else None
        same = (
            isinstance(ref, dict)
            and ref.get("name") == old_name
            and (ref.get("namespace") or DEFAULT_NAMESPACE) == bot.namespace
        )
        if same and new_name is None:
            continue
        if same:
            member = {**member, "botRef": {"name": new_name, "namespace": bot.namespace}}
        members.append(member)
    body = {
        "kind": TEAM,
        "metadata": dict(team.document.get("metadata") or {}),
        "spec": {**team.spec, "members": members},
    }
    services.update_resource(
        actor=actor, kind_type=_type(TEAM), namespace=team.namespace, name=team.name, body=body
    )


def _only_used_by(row: Kind, bot: Kind) -> bool:
    return [referrer.pk for referrer in selectors.referrers(row)] == [bot.pk]


def _follow_rename(
    actor: User, bot: Kind, part: Kind | None, old_bot_name: str, suffix: str, new_bot_name: str
) -> Kind | None:
    """Renames a ``<old>-ghost``/``<old>-model`` row that only this bot uses to the new name."""
    if (
        part is None
        or part.name != f"{old_bot_name}{suffix}"
        or part.namespace != bot.namespace
        or part.scope != bot.scope
        or not can(actor, part, access.UPDATE)
        or not _only_used_by(part, bot)
        or selectors.find(part.owner, part.kind, part.namespace, f"{new_bot_name}{suffix}") is not None
    ):
        return None
    locked = Kind.objects.select_for_update().get(pk=part.pk)
    return rename_row(locked, f"{new_bot_name}{suffix}", taken=BadRequest(DUPLICATE_NAME))


def _delete_if_unused(row: Kind | None) -> None:
    if row is not None and not selectors.referrers(row):
        services.delete_row(row)


@transaction.atomic
def update_bot(*, actor: User, bot_id: int, changes: dict[str, Any]) -> Kind:
    """Partial update: rename, shell, model binding or custom config, ghost fields."""
    bot = _writable_bot(actor, bot_id, access.UPDATE)
    namespace = bot.namespace
    if changes.get("namespace") not in (None, namespace):
        raise BadRequest("A bot cannot be moved to another namespace")
    components = load_components([bot])
    spec = dict(bot.spec)
    ghost = components.resolve(GHOST, spec.get("ghostRef"), bot.owner_id)
    model = components.resolve(MODEL, spec.get("modelRef"), bot.owner_id)
    dedicated = model if is_dedicated_model(bot, model) else None

    new_name = changes.get("name")
    if new_name and new_name != bot.name:
        if selectors.find(bot.owner, BOT, namespace, new_name) is not None:
            raise BadRequest(DUPLICATE_NAME)
        teams = _teams_for_change(actor, bot)
        old_name = bot.name
        moved_ghost = _follow_rename(actor, bot, ghost, old_name, GHOST_SUFFIX, new_name)
        moved_model = _follow_rename(actor, bot, dedicated, old_name, MODEL_SUFFIX, new_name)
        bot = rename_row(bot, new_name, taken=BadRequest(DUPLICATE_NAME))
        if moved_ghost is not None:
            ghost = moved_ghost
            spec["ghostRef"] = {"name": ghost.name, "namespace": ghost.namespace}
        if moved_model is not None:
            dedicated = moved_model
            spec["modelRef"] = {"name": dedicated.name, "namespace": dedicated.namespace}
        elif dedicated is not None:
            dedicated = None  # kept under its old name: now an ordinary model the bot binds to
        for team in teams:
            retarget_members(actor=actor, team=team, bot=bot, old_name=old_name, new_name=bot.name)

    if "shell_name" in changes:
        spec["shellRef"] = find_shell(actor=actor, name=changes["shell_name"], namespace=namespace)

    dropped: Kind | None = None
    if "agent_config" in changes:
        config = changes["agent_config"] or {}
        if not config:
            spec["modelRef"] = None
            dropped = dedicated
        elif is_bind_config(config):
            spec["modelRef"] = bound_model_ref(actor=actor, namespace=namespace, config=config)
            if dedicated is not None and spec["modelRef"] != {"name": dedicated.name, "namespace": namespace}:
                dropped = dedicated
        elif dedicated is not None:
            services.update_resource(
                actor=actor,
                kind_type=_type(MODEL),
                namespace=namespace,
                name=dedicated.name,
                body=_custom_model_body(dedicated.name, config, stored=dedicated),
            )
        else:
            spec["modelRef"] = _create_dedicated_model(actor, bot.name, namespace, config)

    ghost_fields = {"system_prompt", "mcp_servers", "skills", "preload_skills"} & set(changes)
    if ghost_fields:
        spec["ghostRef"] = _update_ghost(actor, bot, ghost, changes)

    if spec != bot.spec:
        services.update_resource(
            actor=actor, kind_type=_type(BOT), namespace=namespace, name=bot.name, body=_bot_body(bot, spec)
        )
    _delete_if_unused(dropped)
    bot.refresh_from_db()
    return bot


def _update_ghost(actor: User, bot: Kind, ghost: Kind | None, changes: dict[str, Any]) -> dict[str, str]:
    """Writes the ghost fields; a ghost the actor may not change (public, someone else's) is
    replaced by a new one of the bot's own. Returns the bot's ``ghostRef``."""
    ghost_spec = dict(ghost.spec) if ghost is not None else {"systemPrompt": ""}
    if "system_prompt" in changes:
        ghost_spec["systemPrompt"] = changes["system_prompt"] or ""
    if "mcp_servers" in changes:
        ghost_spec["mcpServers"] = changes["mcp_servers"] or {}
    if "skills" in changes:
        ghost_spec["skills"] = changes["skills"] or []
    if "preload_skills" in changes:
        ghost_spec["preload_skills"] = changes["preload_skills"] or []
    check_skills(
        actor=actor,
        namespace=bot.namespace,
        names=[*(changes.get("skills") or []), *(changes.get("preload_skills") or [])],
    )
    if ghost is not None and can(actor, ghost, access.UPDATE):
        metadata = dict(ghost.document.get("metadata") or {})
        services.update_resource(
            actor=actor,
            kind_type=_type(GHOST),
            namespace=ghost.namespace,
            name=ghost.name,
            body=_ghost_body(ghost.name, ghost_spec, metadata),
        )
        return {"name": ghost.name, "namespace": ghost.namespace}
    name = _free_name(actor, GHOST, bot.namespace, f"{bot.name}{GHOST_SUFFIX}")
    services.create_resource(
        actor=actor, kind_type=_type(GHOST), namespace=bot.namespace, body=_ghost_body(name, ghost_spec)
    )
    return {"name": name, "namespace": bot.namespace}


@transaction.atomic
def delete_bot(*, actor: User, bot_id: int, force: bool = False) -> None:
    """Hard-deletes the bot, then its ghost and dedicated model when nothing else uses them.

    A bot used by teams is refused (400) unless ``force``: then it is removed from those teams
    (a team left without members stays, with an empty bot list, for its owner to fix).
    """
    bot = _writable_bot(actor, bot_id, access.DELETE)
    teams = teams_using(bot)
    if teams and not force:
        names = ", ".join(team.name for team in teams)
        raise BadRequest(
            f"Bot '{bot.name}' is being used in team(s): {names}. Please remove it from the team(s) first."
        )
    for team in _teams_for_change(actor, bot):
        retarget_members(actor=actor, team=team, bot=bot, old_name=bot.name, new_name=None)
    components = load_components([bot])
    ghost = components.resolve(GHOST, bot.spec.get("ghostRef"), bot.owner_id)
    model = components.resolve(MODEL, bot.spec.get("modelRef"), bot.owner_id)
    dedicated = model if is_dedicated_model(bot, model) else None
    services.delete_row(bot)
    if ghost is not None and can(actor, ghost, access.DELETE):
        _delete_if_unused(ghost)
    _delete_if_unused(dedicated)
