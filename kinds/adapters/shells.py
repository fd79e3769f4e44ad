"""``/api/shells`` and ``/api/agents``: Shell rows seen as unified shells or legacy agents.

Reads and writes the same Kind rows as the CRD API; every write goes through
``kinds.services``. Also holds what the unified model and shell listings share (which
namespaces a scope covers, where an item comes from).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from accounts import selectors as account_selectors
from accounts.models import User
from kinds import access, registry, selectors, services
from kinds.adapters import group_role_denied, scope_namespaces
from kinds.adapters.admin import public_row_by_id, rename_public, require_admin, without_version
from kinds.models import DEFAULT_NAMESPACE, Kind
from wegent.errors import BadRequest, NotFound

SHELL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")
# image, image:tag, registry/image:tag, registry:port/image:tag, optionally @sha256:digest
DOCKER_IMAGE = re.compile(
    r"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9._-]+(/[a-z0-9._-]+)*(:[a-z0-9._-]+)?(@sha256:[a-f0-9]+)?$",
    re.IGNORECASE,
)
INVALID_IMAGE = (
    "Invalid base image format. Expected formats: image, image:tag, registry/image:tag, "
    "or registry:port/image:tag"
)
LOCAL_ENGINE = "local_engine"


# --- shared by the unified listings ----------------------------------------------------------


def listing_namespaces(actor: User, scope: str, group_name: str | None) -> list[str]:
    """Namespaces a unified listing covers (``default`` first), by the adapters' scope rules."""
    personal, groups = scope_namespaces(actor=actor, scope=scope, group_name=group_name)
    return [DEFAULT_NAMESPACE, *groups] if personal else groups


def source_type(row: Kind) -> str:
    """``public``, ``user`` or ``group``: where a unified item comes from."""
    if row.is_public:
        return "public"
    return "user" if access.is_personal(row.namespace) else "group"


def labels_of(row: Kind) -> dict[str, Any]:
    labels = (row.document.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


# --- unified shells --------------------------------------------------------------------------


def unified_shell(row: Kind) -> dict[str, Any]:
    spec = row.spec
    return {
        "name": row.name,
        "type": source_type(row),
        "displayName": row.display_name or row.name,
        "shellType": spec.get("shellType"),
        "baseImage": spec.get("baseImage"),
        "baseShellRef": spec.get("baseShellRef"),
        "supportModel": spec.get("supportModel"),
        "executionType": labels_of(row).get("type"),
        "namespace": row.namespace,
        "requiresWorkspace": spec.get("requiresWorkspace"),
    }


def public_shells() -> list[Kind]:
    return list(
        selectors.offered(selectors.scoped_rows(None, "Shell", DEFAULT_NAMESPACE)).order_by("name", "id")
    )


def list_unified_shells(*, actor: User, scope: str, group_name: str | None) -> list[dict[str, Any]]:
    """Public shells by name, then the caller's (or groups') shells, each name listed once."""
    namespaces = listing_namespaces(actor, scope, group_name)
    listed = public_shells()
    seen = {row.name for row in listed}
    for namespace in namespaces:
        for row in selectors.scoped_rows(actor, "Shell", namespace).order_by("name", "id"):
            if row.name not in seen:
                seen.add(row.name)
                listed.append(row)
    return [unified_shell(row) for row in listed]


def get_unified_shell(*, actor: User, name: str, shell_type: str | None) -> dict[str, Any]:
    """The caller's own shell first (unless ``public`` is asked for), then the public one."""
    if shell_type in (None, "", "user"):
        own = selectors.find(actor, "Shell", DEFAULT_NAMESPACE, name)
        if own is not None:
            return unified_shell(own)
        if shell_type == "user":
            raise NotFound("User shell not found")
    public = selectors.offered_public_row("Shell", name)
    if public is None:
        raise NotFound("Shell not found")
    return unified_shell(public)


def _check_image(image: str) -> None:
    if not image or not DOCKER_IMAGE.match(image):
        raise BadRequest(INVALID_IMAGE)


def _base_shell(name: str) -> Kind:
    base = selectors.offered_public_row("Shell", name)
    if base is None:
        raise BadRequest(f"Base shell '{name}' not found")
    if labels_of(base).get("type") != LOCAL_ENGINE:
        raise BadRequest("Base shell must be a local_engine type (not external_api)")
    return base


@transaction.atomic
def create_shell(
    *,
    actor: User,
    name: str,
    base_shell_ref: str,
    base_image: str,
    display_name: str | None = None,
    group_name: str | None = None,
) -> Kind:
    """A custom shell on a public local-engine shell: inherits its shellType and supportModel."""
    namespace = group_name or DEFAULT_NAMESPACE
    if group_name and not access.can(actor, group_name, access.CREATE):
        raise group_role_denied(group_name, access.CREATE, "shells")
    if not SHELL_NAME.match(name):
        raise BadRequest("Shell name must contain only lowercase letters, numbers, and hyphens")
    if selectors.find(actor, "Shell", namespace, name) is not None:
        raise BadRequest(f"Shell '{name}' already exists in namespace '{namespace}'")
    base = _base_shell(base_shell_ref)
    _check_image(base_image)
    document = {
        "kind": "Shell",
        "metadata": {"name": name, "displayName": display_name, "labels": {"type": LOCAL_ENGINE}},
        "spec": {
            "shellType": base.spec.get("shellType"),
            "supportModel": base.spec.get("supportModel") or [],
            "baseImage": base_image,
            "baseShellRef": base_shell_ref,
        },
    }
    return services.create_resource(actor=actor, kind_type=_shell_type(), namespace=namespace, body=document)


def _editable_shell(actor: User, name: str, action: str) -> Kind:
    """The caller's own shell, else one in a group the caller reads; role checked for ``action``."""
    row = selectors.find(actor, "Shell", DEFAULT_NAMESPACE, name)
    if row is None:
        for group in account_selectors.readable_group_names(actor):
            row = selectors.find(actor, "Shell", group, name)
            if row is not None:
                break
    if row is None:
        raise NotFound("User shell not found")
    if not access.is_personal(row.namespace) and not access.can(actor, row.namespace, action):
        raise group_role_denied(row.namespace, action, "this shell")
    return row


@transaction.atomic
def update_shell(
    *, actor: User, name: str, display_name: str | None = None, base_image: str | None = None
) -> Kind:
    """Changes displayName/baseImage and re-inherits shellType/supportModel from the base shell."""
    row = _editable_shell(actor, name, access.UPDATE)
    document = without_version(selectors.render(row))
    metadata, spec = dict(document["metadata"]), dict(document.get("spec") or {})
    base = selectors.public_row("Shell", spec["baseShellRef"]) if spec.get("baseShellRef") else None
    if base is not None:
        spec["shellType"] = base.spec.get("shellType")
        spec["supportModel"] = base.spec.get("supportModel") or []
    if display_name is not None:
        metadata["displayName"] = display_name
    if base_image is not None:
        _check_image(base_image)
        spec["baseImage"] = base_image
    updated, _ = services.update_resource(
        actor=actor,
        kind_type=_shell_type(),
        namespace=row.namespace,
        name=row.name,
        body={**document, "metadata": metadata, "spec": spec},
    )
    return updated


@transaction.atomic
def delete_shell(*, actor: User, name: str) -> None:
    """Hard delete; refused with 409 and the referrers while bots still use the shell."""
    row = _editable_shell(actor, name, access.DELETE)
    services.delete_resource(actor=actor, kind_type=_shell_type(), namespace=row.namespace, name=row.name)


def _shell_type() -> registry.KindType:
    kind_type = registry.by_kind("Shell")
    assert kind_type is not None
    return kind_type


# --- /api/agents: legacy CRUD on public shells --------------------------------------------------


def agent_item(row: Kind) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "config": {"mode_filter": row.spec.get("supportModel") or []},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def agents() -> Any:
    return selectors.scoped_rows(None, "Shell", DEFAULT_NAMESPACE).order_by("-created_at", "-id")


def get_agent(agent_id: int, *, lock: bool = False) -> Kind:
    row = public_row_by_id("Shell", agent_id, lock=lock)
    if row is None:
        raise NotFound("Agent not found")
    return row


def _mode_filter(config: dict[str, Any] | None) -> list[str]:
    modes = (config or {}).get("mode_filter")
    return [str(mode) for mode in modes] if isinstance(modes, list) else []


@transaction.atomic
def create_agent(*, actor: User, name: str, config: dict[str, Any] | None) -> Kind:
    require_admin(actor)
    if selectors.public_row("Shell", name) is not None:
        raise BadRequest("Agent name already exists")
    document = {
        "kind": "Shell",
        "metadata": {"name": name},
        "spec": {"shellType": name, "supportModel": _mode_filter(config)},
    }
    return services.create_resource(
        actor=actor,
        kind_type=_shell_type(),
        namespace=DEFAULT_NAMESPACE,
        body=document,
        owner=services.Owner(None),
    )


@transaction.atomic
def update_agent(
    *, actor: User, agent_id: int, name: str | None = None, config: dict[str, Any] | None = None
) -> Kind:
    """Renames (the shellType follows, as in the reference) and sets ``config.mode_filter``."""
    require_admin(actor)
    row = get_agent(agent_id, lock=True)
    renamed = name is not None and name != row.name
    if renamed:
        row = rename_public(row, name, taken="Agent name already exists")
    if config is None and not renamed:
        return row
    document = without_version(selectors.render(row))
    spec = dict(document.get("spec") or {})
    if renamed:
        spec["shellType"] = row.name
    if config is not None:
        spec["supportModel"] = _mode_filter(config)
    document["spec"] = spec
    updated, _ = services.update_resource(
        actor=actor,
        kind_type=_shell_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        body=document,
        owner=services.Owner(None),
    )
    return updated


@transaction.atomic
def delete_agent(*, actor: User, agent_id: int) -> None:
    require_admin(actor)
    row = get_agent(agent_id)
    services.delete_resource(
        actor=actor,
        kind_type=_shell_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        owner=services.Owner(None),
    )
