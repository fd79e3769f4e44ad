"""Reads of Kind rows: scoping by namespace, name resolution, output rendering, referrers."""

from __future__ import annotations

from typing import Any

import orjson
from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from kinds import access, secrets
from kinds.models import DEFAULT_NAMESPACE, Kind, KindReference, scope_for
from kinds.specs import API_VERSION


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
    return find(None, kind, DEFAULT_NAMESPACE, name)


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
