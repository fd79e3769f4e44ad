"""Writing Kinds: validation, namespaces and roles, references, secrets, versions, batches.

Every write path (the generic Kind API, batch apply, the legacy adapters, admin routes, the
management command and init data) goes through these functions.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from accounts.models import User
from kinds import access, references, registry, rows, secrets, selectors
from kinds.exceptions import (
    AlreadyExists,
    BodyRequired,
    InvalidResource,
    InvalidResourceType,
    KindNotFound,
    NamespaceDenied,
    ReadOnlyKind,
    StaleResourceVersion,
    StillReferenced,
)
from kinds.models import DEFAULT_NAMESPACE, Kind, scope_for
from kinds.registry import KindType
from wegent.errors import DomainError, Forbidden, InvalidInput

CREATED, UPDATED, UNCHANGED, DELETED, FAILED = "created", "updated", "unchanged", "deleted", "failed"

# Apply creates what others refer to first; delete removes referrers first.
_DEPENDENCY_RANK = {
    "Skill": 0,
    "Ghost": 1,
    "Model": 1,
    "Shell": 1,
    "Retriever": 1,
    "Device": 1,
    "Bot": 2,
    "Team": 3,
    "Workspace": 3,
    "Task": 4,
}


@dataclass(frozen=True)
class Owner:
    """Whose row is written: a user (personal or group namespace) or the public/system space."""

    user: User | None

    @property
    def is_public(self) -> bool:
        return self.user is None


def kind_type_for_plural(plural: str) -> KindType:
    kind_type = registry.by_plural(plural)
    if kind_type is None:
        raise InvalidResourceType(
            f"Invalid resource type: {plural}. Valid options: {', '.join(registry.plurals())}"
        )
    return kind_type


def validation_text(exc: ValidationError) -> str:
    """Pydantic's message without its documentation links."""
    lines = [line for line in str(exc).splitlines() if "errors.pydantic.dev" not in line]
    return "\n".join(lines)


def parse(
    kind_type: KindType, body: Any, *, namespace: str, name: str | None = None, actor: User | None = None
) -> tuple[dict, Any]:
    """Validates ``body`` as a ``kind_type`` document; returns (normalised document, resourceVersion).

    The URL decides namespace (and name on update); a body that names another kind is refused.
    """
    if body is None or body == {} or body == []:
        raise BodyRequired()
    if not isinstance(body, dict):
        raise InvalidInput([{"loc": ["body"], "msg": "Input should be a valid object", "type": "dict_type"}])
    body_kind = body.get("kind")
    if body_kind not in (None, "", kind_type.kind):
        raise InvalidResource(
            f"Kind mismatch: the body is a {body_kind!s:.50} but the URL is for {kind_type.kind}"
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InvalidResource(f"Invalid {kind_type.kind} resource: metadata must be an object")
    metadata = {**metadata, "namespace": namespace}
    if name is not None:
        metadata["name"] = name
    version = metadata.pop("resourceVersion", None)
    body = references.complete_ref_namespaces(
        actor=actor, kind=kind_type.kind, body=body, namespace=namespace
    )
    assert kind_type.schema is not None
    try:
        document = kind_type.schema.model_validate({**body, "metadata": metadata}).normalised()
    except ValidationError as exc:
        raise InvalidResource(f"Invalid {kind_type.kind} resource: {validation_text(exc)}") from exc
    require_storable_text(document, kind_type.kind)
    return document, version


def require_storable_text(value: Any, kind: str) -> None:
    """Databases refuse NUL characters and unpaired surrogates in JSON text: 400, not a 500."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidResource(f"Invalid {kind} resource: text contains unpaired surrogates") from None
        if "\x00" in value:
            raise InvalidResource(f"Invalid {kind} resource: text contains NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            require_storable_text(key, kind)
            require_storable_text(item, kind)
    elif isinstance(value, list):
        for item in value:
            require_storable_text(item, kind)


def require_write(actor: User, owner: Owner, namespace: str, action: str, denied: DomainError) -> None:
    if owner.is_public:
        if not actor.is_admin:
            raise Forbidden("Permission denied. Admin access required.")
        if namespace != DEFAULT_NAMESPACE:
            raise InvalidResource("Public resources live in the 'default' namespace")
        return
    if not access.can(actor, namespace, action):
        raise denied


def _after_write(row: Kind, *, fresh: bool = False) -> None:
    references.sync(row, fresh=fresh)
    if _is_default_device(row.kind, row.document):
        _clear_other_default_devices(row)


def _is_default_device(kind: str, document: dict[str, Any]) -> bool:
    """A Device marked default: writing it unsets the flag on the owner's other devices."""
    spec = document.get("spec")
    return kind == "Device" and isinstance(spec, dict) and bool(spec.get("isDefault"))


def _clear_other_default_devices(row: Kind) -> None:
    """Only one default device per user: setting one clears the flag on the others."""
    others = selectors.scoped_rows(row.owner, "Device", DEFAULT_NAMESPACE).exclude(pk=row.pk)
    for other in others.select_for_update():
        if other.spec.get("isDefault"):
            other.document = {**other.document, "spec": {**other.spec, "isDefault": False}}
            other.resource_version += 1
            other.save(update_fields=["document", "resource_version", "updated_at"])


def _writable(kind_type: KindType) -> None:
    if not kind_type.writable:
        raise ReadOnlyKind(
            f"{kind_type.kind} resources are created by uploading an archive: "
            "POST /api/v1/kinds/skills/upload"
        )


def create_resource(
    *, actor: User, kind_type: KindType, namespace: str, body: Any, owner: Owner | None = None
) -> Kind:
    """Validates and inserts a new row.

    Permission and validation read nothing the insert depends on, so they run before the
    transaction (on SQLite, before the write lock). Nothing is looked up before the insert: the
    unique key answers "already exists", and it is tried before the references are checked, so
    a duplicate is a 409 even when its references are wrong, as before.
    """
    owner = owner or Owner(actor)
    _writable(kind_type)
    require_write(
        actor,
        owner,
        namespace,
        access.CREATE,
        NamespaceDenied(f"Namespace '{namespace}' not found or permission denied"),
    )
    document, _ = parse(kind_type, body, namespace=namespace, actor=owner.user)
    name = document["metadata"]["name"]
    with _create_transaction(kind_type.kind, document, namespace):
        try:
            row = Kind(
                owner=owner.user,
                kind=kind_type.kind,
                namespace=namespace,
                name=name,
                document=secrets.seal(kind_type.kind, document),
            )
            rows.insert(row)
        except IntegrityError as exc:
            # The live row of that name, or a concurrent create that won the race for the key;
            # the atomic block rolls the failed statement back as the error leaves it.
            raise AlreadyExists(f"{kind_type.kind} '{name}' already exists") from exc
        # Inside the transaction: a target deleted meanwhile must not leave a dangling edge.
        references.check(actor=owner.user, kind=kind_type.kind, document=document, namespace=namespace)
        _after_write(row, fresh=True)
    return row


def _create_transaction(kind: str, document: dict[str, Any], namespace: str) -> AbstractContextManager:
    """The insert's transaction, or none when the insert is the create's only statement.

    A document with no references (nothing to check or record) that is not a default Device
    (which unsets the others) writes one row; in autocommit that statement is its own
    transaction, which saves the BEGIN and COMMIT round trips. Inside a caller's transaction a
    savepoint still confines a failed insert, and SQLite keeps the transaction: its writers
    queue for the process's write lock, which a transaction takes (wegent/sqlite).
    """
    connection = transaction.get_connection()
    if (
        connection.in_atomic_block
        or connection.vendor == "sqlite"
        or references.outgoing(kind, document, namespace)
        or _is_default_device(kind, document)
    ):
        return transaction.atomic()
    return nullcontext()


def _locked_existing(
    *, actor: User, owner: Owner, kind_type: KindType, namespace: str, name: str, action: str
) -> Kind:
    """The row to update or delete, locked; 404 texts as the reference's (never 403)."""
    require_write(
        actor,
        owner,
        namespace,
        action,
        KindNotFound(f"{kind_type.kind} '{name}' not found or permission denied"),
    )
    return _lock_row(owner, kind_type, namespace, name)


def _scope(owner: Owner, namespace: str) -> str:
    return scope_for(namespace=namespace, owner_id=owner.user.pk if owner.user is not None else None)


def _lock_row(owner: Owner, kind_type: KindType, namespace: str, name: str) -> Kind:
    row = rows.live_for_update(kind_type.kind, namespace, _scope(owner, namespace), name)
    if row is None:
        raise KindNotFound(f"{kind_type.kind} '{name}' not found")
    return row


@transaction.atomic
def update_resource(
    *, actor: User, kind_type: KindType, namespace: str, name: str, body: Any, owner: Owner | None = None
) -> tuple[Kind, str]:
    """Replaces the document (no merge). Returns the row and "updated" or "unchanged"."""
    owner = owner or Owner(actor)
    _writable(kind_type)
    row = _locked_existing(
        actor=actor, owner=owner, kind_type=kind_type, namespace=namespace, name=name, action=access.UPDATE
    )
    document, version = parse(kind_type, body, namespace=namespace, name=name, actor=owner.user)
    if version not in (None, "") and str(version) != str(row.resource_version):
        raise StaleResourceVersion(
            f"{kind_type.kind} '{name}' has been modified: resourceVersion {version} is stale "
            f"(current {row.resource_version}); read it again and retry"
        )
    references.check(
        actor=owner.user, kind=kind_type.kind, document=document, namespace=namespace, previous=row.document
    )
    sealed = secrets.seal(kind_type.kind, document, row.document)
    if sealed == row.document:
        return row, UNCHANGED
    row.document = sealed
    row.resource_version += 1
    row.save(update_fields=["document", "resource_version", "updated_at"])
    _after_write(row)
    return row, UPDATED


def delete_resource(
    *, actor: User, kind_type: KindType, namespace: str, name: str, owner: Owner | None = None
) -> None:
    """Hard-deletes a row nobody refers to; otherwise 409 with the referrers."""
    owner = owner or Owner(actor)
    # The permission check reads group roles only: before the transaction (and SQLite's lock).
    require_write(
        actor,
        owner,
        namespace,
        access.DELETE,
        KindNotFound(f"{kind_type.kind} '{name}' not found or permission denied"),
    )
    if rows.one_statement_delete():
        row, deleted = rows.delete_unreferenced(kind_type.kind, namespace, _scope(owner, namespace), name)
        if row is None:
            raise KindNotFound(f"{kind_type.kind} '{name}' not found")
        if deleted:
            return
        # Referenced: the path below words the refusal (and deletes if the referrer is gone).
    with transaction.atomic():
        delete_row(_lock_row(owner, kind_type, namespace, name))


def delete_row(row: Kind) -> None:
    # One cheap existence query; the full list (and its ORM query) only for the refusal.
    blocking = selectors.referrers(row) if references.has_referrers(row) else []
    if blocking:
        listed = ", ".join(f"{r.kind} {r.namespace}/{r.name}" for r in blocking[:10])
        more = f" and {len(blocking) - 10} more" if len(blocking) > 10 else ""
        raise StillReferenced(
            f"{row.kind} '{row.name}' is still referenced by {listed}{more}; delete or change those first",
            extra={"referrers": selectors.referrer_summary(blocking)},
        )
    rows.delete(row)


# --- batches --------------------------------------------------------------------------------


def _item_identity(item: Any, namespace: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        return "", ""
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return str(item.get("kind") or ""), str(name or "")


def _batch_kind(kind: str) -> KindType:
    kind_type = registry.by_kind(kind)
    if kind_type is None or not kind_type.writable:
        writable = ", ".join(t.kind for t in registry.all_types() if t.writable)
        raise InvalidResource(f"Unsupported kind '{kind:.50}' for batch operations (supported: {writable})")
    return kind_type


def _rank(item: Any) -> int:
    # Any JSON may arrive as an item; only a string kind can have a rank (a dict is unhashable).
    kind = item.get("kind") if isinstance(item, dict) else None
    return _DEPENDENCY_RANK.get(kind, 5) if isinstance(kind, str) else 5


def _require_items(items: Any) -> list[Any]:
    if not isinstance(items, list):
        raise InvalidInput(
            [{"loc": ["body"], "msg": "Input should be a list of resources", "type": "list_type"}]
        )
    if not items:
        raise BodyRequired()
    return items


def apply_one(*, actor: User, namespace: str, item: Any, owner: Owner | None = None) -> str:
    """Creates or updates one item; returns the operation performed."""
    kind, name = _item_identity(item, namespace)
    if not isinstance(item, dict):
        raise InvalidResource("Each item must be a resource object")
    kind_type = _batch_kind(kind)
    if kind_type.backend is not None:
        return kind_type.backend.apply(actor=actor, namespace=namespace, body=item)
    owner = owner or Owner(actor)
    if name and selectors.find(owner.user, kind_type.kind, namespace, name) is not None:
        _, operation = update_resource(
            actor=actor, kind_type=kind_type, namespace=namespace, name=name, body=item, owner=owner
        )
        return operation
    create_resource(actor=actor, kind_type=kind_type, namespace=namespace, body=item, owner=owner)
    return CREATED


def delete_one(*, actor: User, namespace: str, item: Any, owner: Owner | None = None) -> str:
    kind, name = _item_identity(item, namespace)
    if not isinstance(item, dict) or not name:
        raise InvalidResource("Each item must be a resource object with metadata.name")
    kind_type = _batch_kind(kind)
    if kind_type.backend is not None:
        kind_type.backend.delete(actor=actor, namespace=namespace, name=name)
    else:
        delete_resource(actor=actor, kind_type=kind_type, namespace=namespace, name=name, owner=owner)
    return DELETED


def _run_batch(
    *,
    actor: User,
    namespace: str,
    items: Any,
    operation: Any,
    verb: str,
    dry_run: bool,
    owner: Owner | None,
    reverse: bool,
) -> dict[str, Any]:
    items = _require_items(items)
    ordered = sorted(items, key=_rank, reverse=reverse)
    results: list[dict[str, Any]] = []
    with transaction.atomic():
        for item in ordered:
            kind, name = _item_identity(item, namespace)
            result = {"kind": kind, "name": name, "namespace": namespace}
            try:
                # Each item in its own savepoint: a failing item changes nothing.
                with transaction.atomic():
                    done = operation(actor=actor, namespace=namespace, item=item, owner=owner)
                results.append({**result, "operation": done, "success": True})
            except DomainError as exc:
                detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
                results.append({**result, "operation": FAILED, "success": False, "error": detail})
        if dry_run:
            # The batch ran for real so later items could see earlier ones; now undo it all.
            transaction.set_rollback(True)
    succeeded = sum(1 for r in results if r["success"])
    response = {
        "success": succeeded == len(results),
        "message": f"{verb} {succeeded}/{len(results)} resources",
        "results": results,
    }
    if dry_run:
        response["dryRun"] = True
    return response


def apply_resources(
    *, actor: User, namespace: str, items: Any, dry_run: bool = False, owner: Owner | None = None
) -> dict[str, Any]:
    """Applies each item independently (created/updated/unchanged/failed); dry run writes nothing."""
    return _run_batch(
        actor=actor,
        namespace=namespace,
        items=items,
        operation=apply_one,
        verb="Would apply" if dry_run else "Applied",
        dry_run=dry_run,
        owner=owner,
        reverse=False,
    )


def delete_resources(
    *, actor: User, namespace: str, items: Any, dry_run: bool = False, owner: Owner | None = None
) -> dict[str, Any]:
    return _run_batch(
        actor=actor,
        namespace=namespace,
        items=items,
        operation=delete_one,
        verb="Would delete" if dry_run else "Deleted",
        dry_run=dry_run,
        owner=owner,
        reverse=True,
    )
