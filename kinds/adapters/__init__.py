"""Adapters between Kind rows and the reference's flat legacy objects (``/api/bots``, ``/api/teams``).

The legacy translation layer, used only inside ``kinds``: other apps read through
``kinds.selectors`` (rows, ``can``, ``RowIndex``, ``TeamContext``) and ``kinds.shapes`` (the
flat bot and team objects). The adapters own no rows of their own: every write goes through
``kinds.services`` (or, for a rename, which keeps the row id the legacy clients hold, through
``rename_row`` below). This module holds what the bot and team adapters share: list scopes,
the 403 for a missing group role, the running-tasks answer and renames.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import IntegrityError, transaction

from accounts import selectors as account_selectors
from accounts.models import User
from kinds import access, references, selectors
from kinds.events import running_task_finders
from kinds.models import Kind
from kinds.selectors import (  # noqa: F401 - the adapter modules' names for the shared read API
    MAX_ROW_ID,
    RowIndex,
    can,
    dedupe,
    locked_row_by_id,
    row_by_id,
    rows_by_id,
)
from wegent.errors import BadRequest, DomainError, Forbidden

SCOPES = ("personal", "group", "all")
ACTION_VERBS = {access.UPDATE: "update", access.DELETE: "delete", access.CREATE: "create"}


def running_tasks_of(teams: list[Kind], *, with_team_name: bool) -> dict[str, Any]:
    """The reference's running-tasks answer for some teams."""
    found = [task for finder in running_task_finders for task in finder(teams)] if teams else []
    if not with_team_name:
        found = [{key: value for key, value in task.items() if key != "team_name"} for task in found]
    return {"has_running_tasks": bool(found), "running_tasks_count": len(found), "running_tasks": found}


def role_needed(action: str) -> str:
    return str(access.REQUIRED_ROLE[action])


def group_role_denied(namespace: str, action: str, noun: str) -> Forbidden:
    role, verb = role_needed(action), ACTION_VERBS[action]
    return Forbidden(f"You need at least {role} role in group '{namespace}' to {verb} {noun}")


def scope_namespaces(*, actor: User, scope: str, group_name: str | None) -> tuple[bool, list[str]]:
    """(whether personal rows are included, the group namespaces) a list ``scope`` covers.

    ``group`` with a ``group_name`` needs read access to that group; without one (and for
    ``all``) it is every group the actor can read, sub-groups included.
    """
    if scope not in SCOPES:
        raise BadRequest(f"Invalid scope '{scope:.50}'. Valid values: {', '.join(SCOPES)}")
    personal = scope in ("personal", "all")
    groups: list[str] = []
    if scope == "group" and group_name:
        if access.is_personal(group_name) or not access.can(actor, group_name, access.READ):
            raise Forbidden("You are not a member of this group")
        groups = [group_name]
    elif scope in ("group", "all"):
        groups = account_selectors.readable_group_names(actor)
    return personal, groups


def rename_row(row: Kind, new_name: str, *, taken: DomainError) -> Kind:
    """Renames ``row`` in place, keeping its id (legacy clients address rows by id).

    The caller holds the row lock inside a transaction and re-points whatever referred to the
    old name. ``taken`` is raised when the name is already used in the row's scope.
    """
    if selectors.find(row.owner, row.kind, row.namespace, new_name) is not None:
        raise taken
    document = copy.deepcopy(row.document)
    metadata = document.get("metadata")
    document["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), "name": new_name}
    row.name = new_name
    row.document = document
    row.resource_version += 1
    try:
        with transaction.atomic():
            row.save(update_fields=["name", "document", "resource_version", "updated_at"])
    except IntegrityError as exc:
        raise taken from exc
    references.sync(row)
    return row
