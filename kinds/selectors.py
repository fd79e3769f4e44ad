"""The one read API of Kind rows, for this app and every app above it.

Scoping by namespace and name resolution, rows by id, who may use a row (``can``), the rows an
actor may see, the model a name means for an actor, output rendering and referrers; and, from
``kinds.graph``, reference resolution in bulk (``RowIndex``) and the team graph a runner needs
(``TeamContext``). Other apps read Kinds through this module, never through ``kinds.adapters``
(the legacy ``/api/bots``-style translation layer, which itself reads through here).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from functools import reduce
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q, QuerySet

from accounts import selectors as account_selectors
from accounts.models import User
from kinds import access, secrets
from kinds.graph import (
    RowIndex,
    TeamContext,
    dedupe,
    execution_type,
    load_components,
    shell_type,
    team_bots,
)
from kinds.models import DEFAULT_NAMESPACE, Kind, KindReference, scope_for
from kinds.specs import API_VERSION

__all__ = [
    "MAX_ROW_ID",
    "RowIndex",
    "TeamContext",
    "can",
    "dedupe",
    "execution_type",
    "find",
    "list_rendered",
    "load_components",
    "locked_row_by_id",
    "offered",
    "offered_public_row",
    "public_row",
    "readable_row",
    "referrer_summary",
    "referrers",
    "render",
    "render_list",
    "resolve",
    "row_by_id",
    "rows_by_id",
    "scoped_rows",
    "shell_type",
    "team_bots",
    "usable_model",
    "visible_rows",
]

# Row ids beyond a signed 64-bit integer cannot exist (and would overflow some databases).
MAX_ROW_ID = 2**63 - 1


def scoped_rows(actor: User | None, kind: str, namespace: str) -> QuerySet[Kind]:
    """Active rows of ``kind`` in ``namespace`` as the Kind API sees them.

    In ``default`` that is the caller's own rows (public rows are not listed); in a group it is
    every row of the group. ``actor=None`` means the public (system) rows.
    """
    rows = Kind.objects.filter(kind=kind, namespace=namespace, is_active=True)
    if access.is_personal(namespace):
        rows = rows.filter(owner=actor) if actor is not None else rows.filter(owner__isnull=True)
    return rows


def find(actor: User | None, kind: str, namespace: str, name: str) -> Kind | None:
    return scoped_rows(actor, kind, namespace).filter(name=name).first()


def public_row(kind: str, name: str) -> Kind | None:
    """The public row of that name, deactivated or not (it still holds the name)."""
    return find(None, kind, DEFAULT_NAMESPACE, name)


def offered(rows: QuerySet[Kind]) -> QuerySet[Kind]:
    """``rows`` without deactivated public ones: what users may list and newly choose.

    Only public rows are ever deactivated. Reads of what already refers to a row (``resolve``,
    the team graph, task history) do not filter, so existing bots and tasks keep working.
    """
    return rows.filter(deactivated=False)


def offered_public_row(kind: str, name: str) -> Kind | None:
    """The public row of that name if it may be newly chosen (not deactivated)."""
    row = public_row(kind, name)
    return row if row is not None and not row.deactivated else None


def resolve(actor: User | None, kind: str, name: str, namespace: str = DEFAULT_NAMESPACE) -> Kind | None:
    """What a reference ``{name, namespace}`` means for ``actor``: own -> group -> public.

    In ``default`` the caller's own row wins, then the public one. In a group namespace the
    group's row, if the caller may read that group. Public resources see only public rows.
    """
    if actor is None:
        return public_row(kind, name) if access.is_personal(namespace) else None
    if access.is_personal(namespace):
        return find(actor, kind, namespace, name) or public_row(kind, name)
    if not access.can(actor, namespace, access.READ):
        return None
    return find(actor, kind, namespace, name)


def _render_document(
    kind: str, name: str, namespace: str, version: int, stored: dict[str, Any]
) -> dict[str, Any]:
    document = secrets.masked(kind, stored) if secrets.has_secrets(kind) else dict(stored)
    metadata = dict(document.get("metadata") or {})
    metadata.update(name=name, namespace=namespace, resourceVersion=str(version))
    document["apiVersion"] = API_VERSION
    document["kind"] = kind
    document["metadata"] = metadata
    return document


def render(row: Kind) -> dict[str, Any]:
    """The document as clients see it: identity from the row, secrets masked."""
    return _render_document(row.kind, row.name, row.namespace, row.resource_version, row.document)


def render_list(kind: str, rows: list[Kind]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": f"{kind}List", "items": [render(row) for row in rows]}


# The Kind list is the hottest read. Building this query through the ORM cost ~0.65 ms per
# request against ~0.2 ms for the round trip itself (measured), so it is one fixed statement,
# portable across SQLite, PostgreSQL and MySQL. It must select what ``scoped_rows`` selects.
_LIST_SQL = (
    "SELECT name, resource_version, document FROM kinds_kind "
    "WHERE kind = %s AND namespace = %s AND scope = %s AND is_active = %s ORDER BY id"
)


def list_rendered(actor: User | None, kind: str, namespace: str) -> dict[str, Any]:
    """``render_list`` for the list route, reading only the columns it renders."""
    scope = scope_for(namespace=namespace, owner_id=actor.pk if actor is not None else None)
    with connection.cursor() as cursor:
        cursor.execute(_LIST_SQL, [kind, namespace, scope, True])
        rows = cursor.fetchall()
    items = [
        _render_document(
            kind, name, namespace, version, stored if isinstance(stored, dict) else orjson.loads(stored)
        )
        for name, version, stored in rows
    ]
    return {"apiVersion": API_VERSION, "kind": f"{kind}List", "items": items}


def referrers(row: Kind) -> list[Kind]:
    """Active rows whose documents refer to ``row`` (and would resolve to it)."""
    edges = KindReference.objects.filter(
        target_kind=row.kind,
        target_namespace=row.namespace,
        target_name=row.name,
        source__is_active=True,
    ).select_related("source")
    if row.namespace == DEFAULT_NAMESPACE and row.owner_id is not None:
        edges = edges.filter(source__owner_id=row.owner_id)
    seen: dict[int, Kind] = {}
    for edge in edges:
        if edge.source_id != row.pk:
            seen.setdefault(edge.source_id, edge.source)
    return list(seen.values())


def referrer_summary(rows: list[Kind]) -> list[dict[str, str]]:
    return [{"kind": r.kind, "namespace": r.namespace, "name": r.name} for r in rows]


# --- rows by id, and who may use them ------------------------------------------------------------


def row_by_id(kind: str, row_id: int) -> Kind | None:
    return rows_by_id(kind, {row_id}).get(row_id)


def rows_by_id(kind: str, row_ids: set[Any]) -> dict[int, Kind]:
    """The active rows of ``kind`` among ``row_ids`` (ids that cannot exist are skipped), by id."""
    valid = [i for i in row_ids if isinstance(i, int) and 0 < i <= MAX_ROW_ID]
    if not valid:
        return {}
    rows = Kind.objects.filter(pk__in=valid, kind=kind, is_active=True).select_related("owner")
    return {row.pk: row for row in rows}


def readable_row(actor: User, kind: str, row_id: int) -> Kind | None:
    """The active row of ``kind`` with this id if ``actor`` may read it (``can``), else None."""
    row = row_by_id(kind, row_id)
    return row if row is not None and can(actor, row, access.READ) else None


def locked_row_by_id(kind: str, row_id: int) -> Kind | None:
    """The row locked for the rest of the caller's transaction."""
    if not 0 < row_id <= MAX_ROW_ID:
        return None
    # No select_related: PostgreSQL cannot lock the nullable side of an outer join.
    return Kind.objects.select_for_update().filter(pk=row_id, kind=kind, is_active=True).first()


def can(actor: User, row: Kind, action: str) -> bool:
    """Whether ``actor`` may do ``action`` (``access.READ``...) to ``row``.

    Own rows: anything. Group rows: what the actor's effective role allows (``access``'s role
    table). Public rows: read only.
    """
    if row.owner_id is None:
        return action == access.READ and row.namespace == DEFAULT_NAMESPACE
    if row.namespace == DEFAULT_NAMESPACE:
        return row.owner_id == actor.pk
    return access.can(actor, row.namespace, action)


def visible_rows(
    actor: User, kind: str, *, own: bool = True, public: bool = True, groups: Iterable[str] | None = None
) -> QuerySet[Kind]:
    """Active rows of ``kind`` the actor may read: their own, the public ones, and those of
    ``groups`` (default: every group they can read, sub-groups included). The caller checked
    any ``groups`` it passes."""
    group_names = account_selectors.readable_group_names(actor) if groups is None else list(groups)
    conditions = [
        *([Q(namespace=DEFAULT_NAMESPACE, owner=actor)] if own else []),
        *([Q(namespace=DEFAULT_NAMESPACE, owner__isnull=True, deactivated=False)] if public else []),
        *([Q(namespace__in=group_names)] if group_names else []),
    ]
    if not conditions:
        return Kind.objects.none()
    return Kind.objects.filter(reduce(operator.or_, conditions), kind=kind, is_active=True)


def usable_model(actor: User, name: str, model_type: str | None = None) -> Kind | None:
    """The Model ``name`` means for ``actor``: their own, else their groups' (first group by
    name), else the public one. ``model_type`` (``user``, ``group``, ``public``) looks in that
    place only."""
    rows = Kind.objects.filter(kind="Model", name=name, is_active=True)
    if model_type in (None, "user"):
        own = rows.filter(namespace=DEFAULT_NAMESPACE, owner=actor).first()
        if own is not None or model_type == "user":
            return own
    if model_type in (None, "group"):
        groups = account_selectors.readable_group_names(actor)
        group_row = rows.filter(namespace__in=groups).order_by("namespace").first() if groups else None
        if group_row is not None or model_type == "group":
            return group_row
    return rows.filter(namespace=DEFAULT_NAMESPACE, owner__isnull=True, deactivated=False).first()
