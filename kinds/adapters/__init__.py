"""Adapters between Kind rows and the reference's flat legacy objects (``/api/bots``, ``/api/teams``).

The adapters own no rows of their own: every write goes through ``kinds.services`` (or, for a
rename, which keeps the row id the legacy clients hold, through ``rename_row`` below). This
module holds what the bot and team adapters share: who may read or write a row, list scopes,
and a batched lookup of the rows that references resolve to.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction

from accounts import selectors as account_selectors
from accounts.models import User
from kinds import access, references, selectors
from kinds.models import DEFAULT_NAMESPACE, GROUP_SCOPE, PUBLIC_SCOPE, Kind, scope_for
from wegent.errors import BadRequest, DomainError, Forbidden

# Row ids beyond a signed 64-bit integer cannot exist (and would overflow some databases).
MAX_ROW_ID = 2**63 - 1
SCOPES = ("personal", "group", "all")
ACTION_VERBS = {access.UPDATE: "update", access.DELETE: "delete", access.CREATE: "create"}


# Filled by the tasks app: finder(teams) -> the PENDING/RUNNING tasks of those teams, each
# ``{task_id, task_name, task_title, status, team_name}``.
running_task_finders: list[Callable[[list[Kind]], list[dict[str, Any]]]] = []


def running_tasks_of(teams: list[Kind], *, with_team_name: bool) -> dict[str, Any]:
    """The reference's running-tasks answer for some teams."""
    found = [task for finder in running_task_finders for task in finder(teams)] if teams else []
    if not with_team_name:
        found = [{key: value for key, value in task.items() if key != "team_name"} for task in found]
    return {"has_running_tasks": bool(found), "running_tasks_count": len(found), "running_tasks": found}


def row_by_id(kind: str, row_id: int) -> Kind | None:
    return rows_by_id(kind, {row_id}).get(row_id)


def rows_by_id(kind: str, row_ids: set[Any]) -> dict[int, Kind]:
    """The active rows of ``kind`` among ``row_ids`` (ids that cannot exist are skipped), by id."""
    valid = [i for i in row_ids if isinstance(i, int) and 0 < i <= MAX_ROW_ID]
    if not valid:
        return {}
    rows = Kind.objects.filter(pk__in=valid, kind=kind, is_active=True).select_related("owner")
    return {row.pk: row for row in rows}


def locked_row_by_id(kind: str, row_id: int) -> Kind | None:
    """The row locked for the rest of the caller's transaction."""
    if not 0 < row_id <= MAX_ROW_ID:
        return None
    # No select_related: PostgreSQL cannot lock the nullable side of an outer join.
    return Kind.objects.select_for_update().filter(pk=row_id, kind=kind, is_active=True).first()


def can_read_row(actor: User, row: Kind) -> bool:
    """Own rows, public rows, and rows of groups where the actor has at least Reporter."""
    if row.owner_id is None:
        return row.namespace == DEFAULT_NAMESPACE
    if row.namespace == DEFAULT_NAMESPACE:
        return row.owner_id == actor.pk
    return access.can(actor, row.namespace, access.READ)


def can_write_row(actor: User, row: Kind, action: str) -> bool:
    """Own rows, and group rows where the actor's role allows ``action``; never public rows."""
    if row.owner_id is None:
        return False
    if row.namespace == DEFAULT_NAMESPACE:
        return row.owner_id == actor.pk
    return access.can(actor, row.namespace, action)


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


def _ref_parts(ref: Any) -> tuple[str, str] | None:
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        namespace = ref.get("namespace")
        return ref["name"], namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE
    return None


class RowIndex:
    """Active rows loaded in one query, resolving references the way their owner sees them.

    A reference ``{name, namespace}`` made by a row owned by ``owner_id`` means: in ``default``
    the owner's own row, else the public one; in a group, the group's row.
    """

    def __init__(self, rows: Iterable[Kind]) -> None:
        self._rows = {(row.kind, row.namespace, row.scope, row.name): row for row in rows}

    @classmethod
    def load(cls, wanted: Iterable[tuple[str, Any, int | None]]) -> RowIndex:
        """Loads what each (kind, reference, owner id) may resolve to."""
        names: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
        for kind, ref, owner_id in wanted:
            parts = _ref_parts(ref)
            if parts is None:
                continue
            name, namespace = parts
            if namespace != DEFAULT_NAMESPACE:
                scopes: tuple[str, ...] = (GROUP_SCOPE,)
            elif owner_id is None:
                scopes = (PUBLIC_SCOPE,)
            else:
                scopes = (scope_for(namespace=namespace, owner_id=owner_id), PUBLIC_SCOPE)
            names.setdefault((kind, namespace, scopes), set()).add(name)
        if not names:
            return cls([])
        # One flat IN query (a small superset), filtered exactly below: an OR of one Q per
        # (kind, namespace, scopes) cost milliseconds just to compile (measured on /api/teams).
        # The scopes keep other users' rows of the same names out (every user may have a bot
        # called "assistant"; without them a chat's send loaded all of them).
        wanted_keys = {
            (kind, namespace, scope, name)
            for (kind, namespace, scopes), wanted_names in names.items()
            for scope in scopes
            for name in wanted_names
        }
        candidates = Kind.objects.filter(
            kind__in=sorted({key[0] for key in wanted_keys}),
            namespace__in=sorted({key[1] for key in wanted_keys}),
            scope__in=sorted({key[2] for key in wanted_keys}),
            name__in=sorted({key[3] for key in wanted_keys}),
            is_active=True,
        )
        # Resolution needs only owner_id; owners are loaded lazily where a caller needs one.
        return cls(row for row in candidates if (row.kind, row.namespace, row.scope, row.name) in wanted_keys)

    def resolve(self, kind: str, ref: Any, owner_id: int | None) -> Kind | None:
        parts = _ref_parts(ref)
        if parts is None:
            return None
        name, namespace = parts
        if namespace != DEFAULT_NAMESPACE:
            return self._rows.get((kind, namespace, GROUP_SCOPE, name))
        if owner_id is not None:
            own = self._rows.get((kind, namespace, scope_for(namespace=namespace, owner_id=owner_id), name))
            if own is not None:
                return own
        return self._rows.get((kind, namespace, PUBLIC_SCOPE, name))


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


def dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
