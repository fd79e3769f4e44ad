"""``/api/admin``: public resources by id, and Kind management acting as another user.

Public rows are written through ``kinds.services`` with ``Owner(None)`` (which itself requires
an admin actor). Kind management calls the same services as the CRD API with the *target*
user as the actor, so that user's ownership and group roles apply; the admin check is on the
route.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.exceptions import AdminRequired, UserNotFound
from accounts.models import User
from kinds import access, registry, selectors, services
from kinds.adapters import MAX_ROW_ID, locked_row_by_id, rename_row, row_by_id
from kinds.exceptions import KindNotFound, StillReferenced
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from kinds.specs import API_VERSION
from kinds.specs.base import NAME_PATTERN, NAME_RULE
from wegent.errors import BadRequest, NotFound

# URL suffix of /api/admin/public-<suffix> -> Kind.
PUBLIC_KINDS = {
    "models": "Model",
    "teams": "Team",
    "bots": "Bot",
    "ghosts": "Ghost",
    "shells": "Shell",
    "retrievers": "Retriever",
}


def require_admin(actor: User) -> None:
    """Checked before anything else so a non-admin never learns whether a name is taken."""
    if not actor.is_admin:
        raise AdminRequired()


def total_public_models() -> int:
    """``/api/admin/stats`` ``total_public_models`` (registered in accounts.hooks.admin_stats)."""
    return selectors.scoped_rows(None, "Model", DEFAULT_NAMESPACE).count()


def kind_type_of(kind: str) -> KindType:
    kind_type = registry.by_kind(kind)
    assert kind_type is not None, kind
    return kind_type


def without_version(document: dict[str, Any]) -> dict[str, Any]:
    """A rendered document ready to be sent back through the services (no stale-version check)."""
    metadata = {k: v for k, v in (document.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**document, "metadata": metadata}


# --- public resources ------------------------------------------------------------------------


def _label(kind: str) -> str:
    return kind.lower()


def _is_chat_team(row: Kind) -> bool:
    """A team offered in chat mode: ``bind_mode`` unset (chat by default) or containing "chat"."""
    modes = row.spec.get("bind_mode")
    return not modes or "chat" in modes


def public_rows(kind: str, *, chat_only: bool = False) -> list[Kind]:
    """Every public row of ``kind``; models by display name (as the reference), others newest first."""
    rows = selectors.scoped_rows(None, kind, DEFAULT_NAMESPACE)
    if kind == "Model":
        listed = sorted(rows, key=lambda row: ((row.display_name or row.name).lower(), row.pk))
    else:
        listed = list(rows.order_by("-updated_at", "-id"))
    if kind == "Team" and chat_only:
        listed = [row for row in listed if _is_chat_team(row)]
    return listed


def public_item(row: Kind) -> dict[str, Any]:
    display_name = row.display_name
    item: dict[str, Any] = {
        "id": row.pk,
        "name": row.name,
        "namespace": row.namespace,
        "display_name": display_name if display_name and display_name != row.name else None,
        "json": selectors.render(row),
        # Deleted rows are never listed; ``is_active`` is the admin's on/off switch.
        "is_active": not row.deactivated,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.kind == "Team":
        item["description"] = row.spec.get("description")
    if row.kind == "Retriever":
        storage = row.spec.get("storageConfig")
        item["storageType"] = storage.get("type") if isinstance(storage, dict) else None
        item["description"] = row.spec.get("description")
    return item


def public_row_by_id(kind: str, row_id: int, *, lock: bool = False) -> Kind | None:
    """The public row of ``kind`` with that id (locked for the transaction when ``lock``)."""
    row = locked_row_by_id(kind, row_id) if lock else row_by_id(kind, row_id)
    if row is None or not row.is_public or row.namespace != DEFAULT_NAMESPACE:
        return None
    return row


def get_public_row(kind: str, row_id: int, *, lock: bool = False) -> Kind:
    row = public_row_by_id(kind, row_id, lock=lock)
    if row is None:
        raise NotFound(f"Public {_label(kind)} with id {row_id} not found")
    return row


def rename_public(row: Kind, new_name: str, *, taken: str) -> Kind:
    """Renames a locked public row in place (ids stay); refused while anything refers to it."""
    if not NAME_PATTERN.match(new_name):
        raise BadRequest(f"Invalid name '{new_name:.100}': {NAME_RULE}")
    blocking = selectors.referrers(row)
    if blocking:
        raise StillReferenced(
            f"{row.kind} '{row.name}' is still referenced; change those first to rename it",
            extra={"referrers": selectors.referrer_summary(blocking)},
        )
    return rename_row(row, new_name, taken=BadRequest(taken))


def set_public_active(row: Kind, is_active: bool | None) -> None:
    """Deactivates or re-activates a locked public row (``None``: leave it as it is).

    Not a delete: the row keeps its name and what already uses it keeps working; users stop
    seeing it in lists and cannot newly choose it (``selectors.offered``,
    ``references.check``).
    """
    if is_active is None or is_active != row.deactivated:
        return
    row.deactivated = not is_active
    row.save(update_fields=["deactivated", "updated_at"])


def _document(kind: str, name: str, document: dict[str, Any]) -> dict[str, Any]:
    metadata = document.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    metadata["name"] = name
    return {**document, "kind": document.get("kind") or kind, "metadata": metadata}


def _check_namespace(namespace: str | None) -> None:
    if namespace not in (None, DEFAULT_NAMESPACE):
        raise BadRequest("Public resources live in the 'default' namespace")


@transaction.atomic
def create_public(*, actor: User, kind: str, name: str, namespace: str, document: dict[str, Any]) -> Kind:
    require_admin(actor)
    _check_namespace(namespace)
    if selectors.public_row(kind, name) is not None:
        raise BadRequest(f"Public {_label(kind)} '{name}' already exists in namespace '{namespace}'")
    return services.create_resource(
        actor=actor,
        kind_type=kind_type_of(kind),
        namespace=DEFAULT_NAMESPACE,
        body=_document(kind, name, document),
        owner=services.Owner(None),
    )


@transaction.atomic
def update_public(
    *,
    actor: User,
    kind: str,
    row_id: int,
    name: str | None = None,
    namespace: str | None = None,
    document: dict[str, Any] | None = None,
    is_active: bool | None = None,
) -> Kind:
    """Renames (when unreferenced), replaces the document, and (de)activates; moving is refused."""
    require_admin(actor)
    row = get_public_row(kind, row_id, lock=True)
    _check_namespace(namespace)
    set_public_active(row, is_active)
    if name is not None and name != row.name:
        row = rename_public(
            row, name, taken=f"Public {_label(kind)} '{name}' already exists in namespace '{row.namespace}'"
        )
    if document is None:
        return row
    updated, _ = services.update_resource(
        actor=actor,
        kind_type=kind_type_of(kind),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        body=_document(kind, row.name, document),
        owner=services.Owner(None),
    )
    return updated


@transaction.atomic
def delete_public(*, actor: User, kind: str, row_id: int) -> None:
    """Hard delete; refused with 409 and the referrers while other rows use it."""
    require_admin(actor)
    row = get_public_row(kind, row_id)
    services.delete_resource(
        actor=actor,
        kind_type=kind_type_of(kind),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        owner=services.Owner(None),
    )


# --- Kind management acting as another user ---------------------------------------------------


def target_user(*, user_id: int | None = None, user_name: str | None = None) -> User:
    if user_id is not None:
        found = User.objects.filter(pk=user_id).first() if 0 < user_id <= MAX_ROW_ID else None
    else:
        found = User.objects.filter(user_name=user_name).first()
    if found is None:
        raise UserNotFound()
    return found


def list_user_kinds(*, user: User, plural: str, namespace: str) -> dict[str, Any]:
    kind_type = services.kind_type_for_plural(plural)
    if kind_type.backend is not None:
        items = kind_type.backend.list(actor=user, namespace=namespace)
        return {"apiVersion": API_VERSION, "kind": f"{kind_type.kind}List", "items": items}
    rows = (
        list(selectors.scoped_rows(user, kind_type.kind, namespace))
        if access.can(user, namespace, access.READ)
        else []
    )
    return selectors.render_list(kind_type.kind, rows)


def get_user_kind(*, user: User, plural: str, namespace: str, name: str) -> dict[str, Any]:
    kind_type = services.kind_type_for_plural(plural)
    if kind_type.backend is not None:
        return kind_type.backend.get(actor=user, namespace=namespace, name=name)
    row = (
        selectors.find(user, kind_type.kind, namespace, name)
        if access.can(user, namespace, access.READ)
        else None
    )
    if row is None:
        raise KindNotFound(f"{kind_type.kind} resource '{name}' not found in namespace '{namespace}'")
    return selectors.render(row)


def create_user_kind(*, user: User, plural: str, namespace: str, body: Any) -> dict[str, Any]:
    kind_type = services.kind_type_for_plural(plural)
    if kind_type.backend is not None:
        return kind_type.backend.create(actor=user, namespace=namespace, body=body)
    row = services.create_resource(actor=user, kind_type=kind_type, namespace=namespace, body=body)
    return selectors.render(row)


def update_user_kind(*, user: User, plural: str, namespace: str, name: str, body: Any) -> dict[str, Any]:
    kind_type = services.kind_type_for_plural(plural)
    if kind_type.backend is not None:
        return kind_type.backend.update(actor=user, namespace=namespace, name=name, body=body)
    row, _ = services.update_resource(
        actor=user, kind_type=kind_type, namespace=namespace, name=name, body=body
    )
    return selectors.render(row)


def delete_user_kind(*, user: User, plural: str, namespace: str, name: str) -> None:
    kind_type = services.kind_type_for_plural(plural)
    if kind_type.backend is not None:
        kind_type.backend.delete(actor=user, namespace=namespace, name=name)
    else:
        services.delete_resource(actor=user, kind_type=kind_type, namespace=namespace, name=name)
