"""``/api/models``: Model rows as unified models and legacy public models.

Reads and writes the same Kind rows as the CRD API; every write goes through
``kinds.services``. Secrets are masked in every shape returned from here. The provider checks
(test-connection, fetch-available-models) are ``kinds.model_checks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import User
from kinds import registry, secrets, selectors, services
from kinds.adapters.admin import (
    public_row_by_id,
    rename_public,
    require_admin,
    set_public_active,
    without_version,
)
from kinds.adapters.shells import listing_namespaces, source_type
from kinds.models import DEFAULT_NAMESPACE, Kind
from kinds.registry import KindType
from kinds.specs.model import ModelView
from wegent.errors import BadRequest, DomainError, NotFound

# Providers a shell type accepts when the shell itself names none (supportModel empty).
SHELL_PROVIDERS = {"Agno": ("openai", "claude", "gemini"), "ClaudeCode": ("claude",)}
MODEL_TYPES = ("public", "user")


def _model_type() -> KindType:
    kind_type = registry.by_kind("Model")
    assert kind_type is not None
    return kind_type


# --- reading model rows ------------------------------------------------------------------------


def model_config(row: Kind) -> dict[str, Any]:
    """``spec.modelConfig`` with secrets masked."""
    config = secrets.masked("Model", row.document).get("spec", {}).get("modelConfig")
    return config if isinstance(config, dict) else {}


@dataclass(frozen=True)
class ShellFilter:
    """Which providers a shell (found by name, else taken as a shell type) accepts."""

    shell_type: str
    support_model: tuple[str, ...]

    def allows(self, provider: Any) -> bool:
        if self.support_model:
            return provider in self.support_model
        accepted = SHELL_PROVIDERS.get(self.shell_type)
        return accepted is None or provider in accepted


def _shell_row(actor: User, shell: str) -> Kind | None:
    return selectors.resolve(actor, "Shell", shell)


def shell_filter(actor: User, shell: str | None) -> ShellFilter | None:
    """``shell`` may be a shell name (the caller's own, then public) or a shell type."""
    if not shell:
        return None
    row = _shell_row(actor, shell)
    if row is None:
        return ShellFilter(shell_type=shell, support_model=())
    support = tuple(str(p) for p in (row.spec.get("supportModel") or []) if p)
    return ShellFilter(shell_type=row.spec.get("shellType") or shell, support_model=support)


def unified_model(row: Kind, *, include_config: bool) -> dict[str, Any]:
    view = ModelView.of(row.spec)
    item: dict[str, Any] = {
        "name": row.name,
        "type": source_type(row),
        "displayName": row.display_name,
        "provider": view.provider or None,
        "modelId": view.model_id or None,
        "namespace": row.namespace,
        "modelCategoryType": view.category,
    }
    if include_config:
        item["config"] = model_config(row)
        item["isActive"] = row.is_active
    return item


def list_unified_models(
    *,
    actor: User,
    shell_type: str | None = None,
    include_config: bool = False,
    scope: str = "personal",
    group_name: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Own/group models (not bot-private custom ones, each name once) plus every public model.

    Filtered by shell compatibility and category, sorted by name; a name may appear twice
    with different ``type``.
    """
    namespaces = listing_namespaces(actor, scope, group_name)
    compatible = shell_filter(actor, shell_type)

    def wanted(view: ModelView) -> bool:
        if compatible is not None and not compatible.allows(view.provider):
            return False
        return not category or view.category == category

    listed: list[Kind] = []
    seen: set[str] = set()
    for namespace in namespaces:
        for row in selectors.scoped_rows(actor, "Model", namespace).order_by("name", "id"):
            view = ModelView.of(row.spec)
            if view.is_custom_config or not wanted(view) or row.name in seen:
                continue
            seen.add(row.name)
            listed.append(row)
    listed.extend(
        row
        for row in selectors.offered(selectors.scoped_rows(None, "Model", DEFAULT_NAMESPACE)).order_by(
            "name", "id"
        )
        if wanted(ModelView.of(row.spec))
    )
    listed.sort(key=lambda row: row.name)
    return [unified_model(row, include_config=include_config) for row in listed]


def get_unified_model(*, actor: User, name: str, model_type: str | None = None) -> dict[str, Any]:
    """``user`` or ``public`` when asked; otherwise the caller's own model, then the public one."""
    row = None
    if model_type in (None, "", "user") or model_type not in MODEL_TYPES:
        row = selectors.find(actor, "Model", DEFAULT_NAMESPACE, name)
    if row is None and model_type != "user":
        row = selectors.offered_public_row("Model", name)
    if row is None:
        raise NotFound("Model not found")
    return unified_model(row, include_config=True)


def model_names(*, actor: User, shell_type: str) -> list[dict[str, Any]]:
    """Legacy: names of own and public models the shell's ``supportModel`` accepts."""
    shell = _shell_row(actor, shell_type)
    if shell is None:
        raise BadRequest("Shell type not found")
    support = {str(p) for p in (shell.spec.get("supportModel") or []) if p}
    names: dict[str, str | None] = {}
    for owner in (actor, None):
        for row in selectors.offered(selectors.scoped_rows(owner, "Model", DEFAULT_NAMESPACE)):
            if (not support or ModelView.of(row.spec).provider in support) and row.name not in names:
                names[row.name] = row.display_name
    return [{"name": name, "displayName": names[name]} for name in sorted(names)]


# --- legacy public models (/api/models) --------------------------------------------------------


def public_model_item(row: Kind) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "config": model_config(row),
        "is_active": not row.deactivated,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def public_models() -> Any:
    return selectors.offered(selectors.scoped_rows(None, "Model", DEFAULT_NAMESPACE)).order_by(
        "-created_at", "-id"
    )


def get_public_model(model_id: int, *, lock: bool = False) -> Kind:
    row = public_row_by_id("Model", model_id, lock=lock)
    if row is None:
        raise NotFound("Model not found")
    return row


def _create_public_model(actor: User, name: str, config: dict[str, Any]) -> Kind:
    document = {"kind": "Model", "metadata": {"name": name}, "spec": {"modelConfig": config}}
    return services.create_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        body=document,
        owner=services.Owner(None),
    )


def _replace_public_model(actor: User, row: Kind, spec: dict[str, Any]) -> Kind:
    document = without_version(selectors.render(row))
    updated, _ = services.update_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        body={**document, "spec": {**document.get("spec", {}), **spec}},
        owner=services.Owner(None),
    )
    return updated


@transaction.atomic
def create_public_model(
    *, actor: User, name: str, config: dict[str, Any], is_active: bool | None = True
) -> Kind:
    """Admins only (the reference lets anyone create public models)."""
    require_admin(actor)
    if selectors.public_row("Model", name) is not None:
        raise BadRequest("Model name already exists")
    row = _create_public_model(actor, name, config)
    set_public_active(row, is_active)
    return row


@transaction.atomic
def upsert_public_models(*, actor: User, items: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Creates or updates (``modelConfig.env``) each item; a failing item is skipped with a reason."""
    require_admin(actor)
    created: list[Kind] = []
    updated: list[Kind] = []
    skipped: list[dict[str, str]] = []
    for item in items:
        name = item["name"]
        try:
            with transaction.atomic():
                row = selectors.public_row("Model", name)
                if row is None:
                    row = _create_public_model(actor, name, {"env": item["env"]})
                    created.append(row)
                else:
                    config = {**model_config(row), "env": item["env"]}
                    row = _replace_public_model(actor, row, {"modelConfig": config})
                    updated.append(row)
                set_public_active(row, item.get("is_active"))
        except DomainError as exc:
            skipped.append({"name": name, "reason": exc.detail if isinstance(exc.detail, str) else str(exc)})
    return {"created": created, "updated": updated, "skipped": skipped}


@transaction.atomic
def update_public_model(
    *,
    actor: User,
    model_id: int,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    is_active: bool | None = None,
) -> Kind:
    require_admin(actor)
    row = get_public_model(model_id, lock=True)
    set_public_active(row, is_active)
    if name is not None and name != row.name:
        row = rename_public(row, name, taken="Model name already exists")
    if config is None:
        return row
    return _replace_public_model(actor, row, {"modelConfig": config})


@transaction.atomic
def delete_public_model(*, actor: User, model_id: int) -> None:
    require_admin(actor)
    row = get_public_model(model_id)
    services.delete_resource(
        actor=actor,
        kind_type=_model_type(),
        namespace=DEFAULT_NAMESPACE,
        name=row.name,
        owner=services.Owner(None),
    )
