"""Subscription writes: create, update, toggle, delete (reference extras §2.2-§2.4).

Every write checks the whole input before it writes anything, runs in one transaction and
keeps the beat entry in step (``schedules.sync``) inside it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE
from subscriptions import selectors, triggers
from subscriptions.exceptions import DuplicateSubscription
from subscriptions.models import EVENT, PRIVATE, SUBSCRIPTION, Subscription
from subscriptions.services import schedules
from wegent import crypto
from wegent.errors import BadRequest, InvalidInput

API_VERSION = "agent.wecode.io/v1"


@dataclass
class SubscriptionInput:
    """The reference's SubscriptionCreate (snake_case REST names); None = not given."""

    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    task_type: str | None = None
    visibility: str | None = None
    trigger_type: str | None = None
    trigger_config: dict[str, Any] | None = None
    team_id: int | None = None
    workspace_id: int | None = None
    git_repo: str | None = None
    git_repo_id: int | None = None
    git_domain: str | None = None
    branch_name: str | None = None
    model_ref: dict[str, Any] | None = None
    force_override_bot_model: bool | None = None
    prompt_template: str | None = None
    retry_count: int | None = None
    timeout_seconds: int | None = None
    enabled: bool | None = None
    preserve_history: bool | None = None
    history_message_count: int | None = None
    knowledge_base_refs: list[dict[str, Any]] | None = None
    namespace: str | None = None
    given: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, data: dict[str, Any]) -> SubscriptionInput:
        names = {f.name for f in fields(cls)} - {"given"}
        values = {key: value for key, value in data.items() if key in names}
        return cls(**values, given=set(values))


DEFAULTS = SubscriptionInput(
    description="",
    task_type="collection",
    visibility=PRIVATE,
    trigger_config={},
    force_override_bot_model=False,
    retry_count=0,
    timeout_seconds=600,
    enabled=True,
    preserve_history=False,
    history_message_count=10,
    knowledge_base_refs=[],
    namespace=DEFAULT_NAMESPACE,
)


def _invalid(message: str, *loc: str | int) -> InvalidInput:
    return InvalidInput([{"loc": ["body", *loc], "msg": message, "type": "value_error"}], detail=message)


def _check_team(actor: User, team_id: int) -> None:
    team = kind_selectors.readable_row(actor, "Team", team_id)
    if team is None:
        raise BadRequest(f"Team with id {team_id} not found or not accessible")
    if team.deactivated:
        raise BadRequest(f"Public Team '{team.name}' is deactivated and cannot be chosen")


def _check_model(actor: User, model_ref: dict[str, Any] | None) -> None:
    if not model_ref:
        return
    name = model_ref.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid("model_ref.name is required", "model_ref", "name")
    namespace = model_ref.get("namespace") or DEFAULT_NAMESPACE
    if kind_selectors.resolve(actor, "Model", name, namespace) is None:
        raise BadRequest(f"Model '{name}' not found")


def _git(data: SubscriptionInput) -> dict[str, Any] | None:
    if not data.git_repo:
        return None
    domain = data.git_domain or "github.com"
    return {
        "gitRepo": data.git_repo,
        "gitRepoId": data.git_repo_id or 0,
        "gitDomain": domain,
        "branchName": data.branch_name or "main",
        "gitUrl": f"https://{domain}/{data.git_repo}.git",
    }


def _workspace_git(actor: User, data: SubscriptionInput) -> dict[str, Any] | None:
    """The repository of the runs: the caller's workspace's (copied), or the one given."""
    if not data.workspace_id:
        return _git(data)
    repository = selectors.owned_workspace_repository(actor, data.workspace_id)
    if repository is None:
        raise BadRequest(f"Workspace with id {data.workspace_id} not found")
    return {
        "gitRepo": repository.get("gitRepo") or "",
        "gitRepoId": repository.get("gitRepoId") or 0,
        "gitDomain": repository.get("gitDomain") or "",
        "branchName": repository.get("branchName") or "",
        "gitUrl": repository.get("gitUrl") or "",
    }


def _check_knowledge_bases(actor: User, refs: list[dict[str, Any]]) -> None:
    # Kept in the spec for the runs; each must be a knowledge base the owner can read now.
    for ref in refs:
        namespace = ref.get("namespace") or DEFAULT_NAMESPACE
        if kind_selectors.resolve(actor, "KnowledgeBase", str(ref.get("name")), namespace) is None:
            raise BadRequest(f"Knowledge base '{ref.get('name')}' not found")


def _check_template(template: str) -> None:
    if not template.strip():
        raise _invalid("prompt_template must not be empty", "prompt_template")
    unknown = triggers.unknown_variables(template)
    if unknown:
        allowed = ", ".join(f"{{{{{name}}}}}" for name in triggers.VARIABLES)
        message = f"Unknown template variables: {', '.join(unknown)} (allowed: {allowed})"
        raise _invalid(message, "prompt_template")


def _trigger(trigger_type: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = triggers.parse(trigger_type, config, timezone.now())
    except triggers.TriggerError as exc:
        raise _invalid(str(exc), "trigger_config", *exc.loc) from exc
    stored = triggers.stored_config(parsed, config)
    return {"type": trigger_type, trigger_type: stored}


def _spec(data: SubscriptionInput, trigger: dict[str, Any], git: dict[str, Any] | None) -> dict[str, Any]:
    model_ref = (
        {"name": data.model_ref["name"], "namespace": data.model_ref.get("namespace") or DEFAULT_NAMESPACE}
        if data.model_ref
        else None
    )
    return {
        "displayName": data.display_name,
        "taskType": data.task_type,
        "visibility": data.visibility,
        "trigger": trigger,
        "teamRef": {"id": data.team_id},
        "workspaceRef": {"id": data.workspace_id} if data.workspace_id else None,
        # The repository each run's task works in (from the workspace, or given directly).
        "git": git,
        "modelRef": model_ref,
        "forceOverrideBotModel": bool(data.force_override_bot_model),
        "promptTemplate": data.prompt_template,
        "retryCount": data.retry_count,
        "timeoutSeconds": data.timeout_seconds,
        "enabled": bool(data.enabled),
        "description": data.description or "",
        "preserveHistory": bool(data.preserve_history),
        "historyMessageCount": data.history_message_count,
        "knowledgeBaseRefs": data.knowledge_base_refs or [],
    }


def _merged(row: Subscription | None, data: SubscriptionInput) -> SubscriptionInput:
    """The full input: what was given over what the row has (or the defaults)."""
    base = DEFAULTS if row is None else _input_of(row)
    merged = SubscriptionInput(**{f.name: getattr(base, f.name) for f in fields(SubscriptionInput)})
    for name in data.given:
        value = getattr(data, name)
        if value is not None or name in {"workspace_id", "model_ref", "description"}:
            setattr(merged, name, value)
    return merged


def _input_of(row: Subscription) -> SubscriptionInput:
    spec = row.spec
    trigger = row.trigger
    return SubscriptionInput(
        name=row.name,
        display_name=spec.get("displayName"),
        description=spec.get("description") or "",
        task_type=spec.get("taskType"),
        visibility=row.visibility,
        trigger_type=row.trigger_type,
        trigger_config=dict(trigger.get(row.trigger_type) or {}),
        team_id=row.team_id,
        workspace_id=row.workspace_id or None,
        git_repo=(spec.get("git") or {}).get("gitRepo") if not row.workspace_id else None,
        git_repo_id=(spec.get("git") or {}).get("gitRepoId") if not row.workspace_id else None,
        git_domain=(spec.get("git") or {}).get("gitDomain") if not row.workspace_id else None,
        branch_name=(spec.get("git") or {}).get("branchName") if not row.workspace_id else None,
        model_ref=spec.get("modelRef"),
        force_override_bot_model=spec.get("forceOverrideBotModel"),
        prompt_template=spec.get("promptTemplate"),
        retry_count=spec.get("retryCount"),
        timeout_seconds=spec.get("timeoutSeconds"),
        enabled=row.enabled,
        preserve_history=spec.get("preserveHistory"),
        history_message_count=spec.get("historyMessageCount"),
        knowledge_base_refs=spec.get("knowledgeBaseRefs") or [],
        namespace=row.namespace,
    )


def _checked(
    actor: User, data: SubscriptionInput, *, trigger_changed: bool, rental: bool = False
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Checks everything a write needs; returns the new trigger when it is (re)parsed, and the
    runs' repository."""
    if data.namespace != DEFAULT_NAMESPACE:
        raise BadRequest("Subscriptions live in the 'default' namespace")
    if not data.display_name:
        raise _invalid("display_name is required", "display_name")
    if data.team_id is None:
        raise _invalid("team_id is required", "team_id")
    _check_template(data.prompt_template or "")
    trigger = _trigger(str(data.trigger_type), data.trigger_config or {}) if trigger_changed else None
    if not rental:  # a rental's team is its source's, which the renter cannot choose or read
        _check_team(actor, data.team_id)
    _check_model(actor, data.model_ref)
    _check_knowledge_bases(actor, data.knowledge_base_refs or [])
    return trigger, _workspace_git(actor, data)


def merged_for_create(data: SubscriptionInput) -> SubscriptionInput:
    full = _merged(None, data)
    if not full.name:
        raise _invalid("name is required", "name")
    if not full.trigger_type:
        raise _invalid("trigger_type is required", "trigger_type")
    return full


def checked_trigger(full: SubscriptionInput) -> dict[str, Any]:
    """The stored trigger of a valid trigger type and config (422 otherwise)."""
    return _trigger(str(full.trigger_type), full.trigger_config or {})


def check_model(actor: User, model_ref: dict[str, Any] | None) -> None:
    _check_model(actor, model_ref)


def document_for(full: SubscriptionInput, trigger: dict[str, Any]) -> dict[str, Any]:
    return _document(str(full.name), _spec(full, trigger, None))


def webhook_fields(trigger_type: str) -> dict[str, Any]:
    """A new webhook token and (encrypted) secret for event triggers; none otherwise."""
    if trigger_type != EVENT:
        return {"webhook_token": None, "webhook_secret": ""}
    return {
        "webhook_token": secrets.token_urlsafe(32),
        "webhook_secret": crypto.encrypt(secrets.token_urlsafe(32)),
    }


def create(*, actor: User, data: SubscriptionInput) -> Subscription:
    full = merged_for_create(data)
    trigger, git = _checked(actor, full, trigger_changed=True)
    assert trigger is not None
    try:
        with transaction.atomic():
            row = Subscription.objects.create(
                owner=actor,
                namespace=DEFAULT_NAMESPACE,
                name=full.name,
                document=_document(full.name, _spec(full, trigger, git)),
                enabled=bool(full.enabled),
                trigger_type=full.trigger_type,
                visibility=full.visibility or PRIVATE,
                team_id=full.team_id or 0,
                workspace_id=full.workspace_id or 0,
                **webhook_fields(str(full.trigger_type)),
            )
            schedules.sync(row, reschedule=True)
    except IntegrityError as exc:
        raise DuplicateSubscription(f"Subscription '{full.name}' already exists") from exc
    return row


def _document(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": SUBSCRIPTION,
        "metadata": {"name": name, "namespace": DEFAULT_NAMESPACE, "displayName": spec.get("displayName")},
        "spec": spec,
    }


TRIGGER_FIELDS = {"trigger_type", "trigger_config"}


def update(*, actor: User, subscription_id: int, data: SubscriptionInput) -> Subscription:
    with transaction.atomic():
        row = selectors.owned_for_update(actor, subscription_id)
        full = _merged(row, data)
        full.name = row.name  # the name is the Kind's identity: not renamed by an update
        if row.is_rental:
            # The source's team and prompt stay; the renter edits the schedule and the rest.
            full.team_id, full.prompt_template = row.team_id, row.spec.get("promptTemplate")
        trigger_changed = bool(TRIGGER_FIELDS & data.given)
        trigger, git = _checked(actor, full, trigger_changed=trigger_changed, rental=row.is_rental)
        was_enabled = row.enabled
        if trigger is None:
            trigger = row.trigger
        becomes_event = full.trigger_type == EVENT
        if becomes_event and not row.webhook_token:
            row.webhook_token = secrets.token_urlsafe(32)
            row.webhook_secret = crypto.encrypt(secrets.token_urlsafe(32))
        elif not becomes_event:
            row.webhook_token, row.webhook_secret = None, ""
        row.document = _document(row.name, _spec(full, trigger, git))
        row.enabled = bool(full.enabled)
        row.trigger_type = str(full.trigger_type)
        row.visibility = full.visibility or PRIVATE
        row.team_id = full.team_id or 0
        row.workspace_id = full.workspace_id or 0
        row.resource_version += 1
        row.save()
        schedules.sync(row, reschedule=trigger_changed or (row.enabled and not was_enabled))
    return row


def toggle(*, actor: User, subscription_id: int, enabled: bool) -> Subscription:
    with transaction.atomic():
        row = selectors.owned_for_update(actor, subscription_id)
        was_enabled = row.enabled
        row.enabled = enabled
        row.document = {**row.document, "spec": {**row.spec, "enabled": enabled}}
        row.save(update_fields=["enabled", "document", "updated_at"])
        if enabled and not was_enabled and row.trigger_type == "one_time":
            # A one-time run already past cannot be re-armed: refuse rather than fire at once.
            _trigger(row.trigger_type, dict(row.trigger.get(row.trigger_type) or {}))
        schedules.sync(row, reschedule=enabled and not was_enabled)
    return row


def delete(*, actor: User, subscription_id: int) -> None:
    """Soft delete (the reference's ``is_active=false, enabled=false``); the beat entry goes."""
    with transaction.atomic():
        row = selectors.owned_for_update(actor, subscription_id)
        row.is_active = False
        row.enabled = False
        row.webhook_token = None
        row.save(update_fields=["is_active", "enabled", "webhook_token", "updated_at"])
        schedules.sync(row)


def webhook_secret(row: Subscription) -> str | None:
    return crypto.decrypt(row.webhook_secret) if row.webhook_secret else None
