"""Knowledge bases: create, update, change type, delete (reference extras §1.1-§1.3).

A knowledge base is a Kind row of kind ``KnowledgeBase`` owned by this app. Its row name is the
reference's synthetic ``kb-{user_id}-{namespace}-{display name}`` (hashed when too long); the
display name lives in ``spec.name`` and is unique per creator and namespace among active ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from kinds import access
from kinds.models import DEFAULT_NAMESPACE, Kind, ResourceMember
from knowledge import selectors, specs
from knowledge.exceptions import KnowledgeBadRequest, KnowledgeDenied
from knowledge.models import KnowledgeBaseState

MAX_ROW_NAME = 100
_UNSET: Any = object()


@dataclass(frozen=True)
class KnowledgeBaseInput:
    name: str
    description: str = ""
    namespace: str = DEFAULT_NAMESPACE
    kb_type: str = specs.NOTEBOOK
    retrieval_config: dict[str, Any] | None = None
    summary_enabled: bool = False
    summary_model_ref: dict[str, Any] | None = None


def _row_name(actor: User, namespace: str, name: str) -> str:
    full = f"kb-{actor.pk}-{namespace}-{name}"
    if len(full) <= MAX_ROW_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:24]
    return f"kb-{actor.pk}-{digest}"


def _require_create(actor: User, namespace: str) -> None:
    if namespace == DEFAULT_NAMESPACE:
        return
    if namespace in selectors.organization_namespaces():
        if not actor.is_admin:
            raise KnowledgeDenied("Only admins can create organization knowledge bases")
        return
    if not access.namespace_exists(namespace) or not access.can(actor, namespace, access.CREATE):
        raise KnowledgeDenied(f"You do not have permission to create knowledge bases in '{namespace}'")


def _duplicate(actor: User, namespace: str, name: str, *, exclude: int | None = None) -> bool:
    rows = Kind.objects.filter(kind=selectors.KIND, namespace=namespace, owner=actor, is_active=True)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return any(row.spec.get("name") == name for row in rows.only("id", "document"))


def _check_model(actor: User, ref: dict[str, Any] | None, category: str, what: str) -> None:
    if not ref:
        return
    name = ref.get("model_name") or ref.get("name")
    namespace = str(ref.get("model_namespace") or ref.get("namespace") or DEFAULT_NAMESPACE)
    row = selectors.model_row(actor, str(name), namespace) if name else None
    if row is None:
        raise KnowledgeBadRequest(f"{what} model '{name}' not found")
    if category and selectors.model_category(row) != category:
        raise KnowledgeBadRequest(f"Model '{name}' is not an {category} model")


def _check_retrieval(actor: User, config: dict[str, Any] | None) -> None:
    if config is None:
        return
    _check_model(actor, config.get("embedding_config"), "embedding", "Embedding")
    _check_model(actor, config.get("rerank_config"), "rerank", "Rerank")
    retriever = config.get("retriever_name")
    if retriever:
        namespace = str(config.get("retriever_namespace") or DEFAULT_NAMESPACE)
        if selectors.retriever_row(actor, retriever, namespace) is None:
            raise KnowledgeBadRequest(f"Retriever '{retriever}' not found")


def create(*, actor: User, data: KnowledgeBaseInput) -> Kind:
    _require_create(actor, data.namespace)
    _check_retrieval(actor, data.retrieval_config)
    _check_model(actor, data.summary_model_ref, "", "Summary")
    spec: dict[str, Any] = {
        "name": data.name,
        "description": data.description,
        "kbType": data.kb_type,
        "document_count": 0,
        "retrievalConfig": data.retrieval_config,
        "summaryEnabled": data.summary_enabled,
        "summaryModelRef": data.summary_model_ref,
        "maxCallsPerConversation": specs.DEFAULT_MAX_CALLS,
        "exemptCallsBeforeCheck": specs.DEFAULT_EXEMPT_CALLS,
    }
    name = _row_name(actor, data.namespace, data.name)
    document = {
        "apiVersion": "agent.wecode.io/v1",
        "kind": selectors.KIND,
        "metadata": {"name": name, "namespace": data.namespace},
        "spec": spec,
        "status": {"state": "Available"},
    }
    with transaction.atomic():
        if _duplicate(actor, data.namespace, data.name):
            raise KnowledgeBadRequest(f"Knowledge base with name '{data.name}' already exists")
        try:
            with transaction.atomic():
                kb = Kind.objects.create(
                    owner=actor, kind=selectors.KIND, namespace=data.namespace, name=name, document=document
                )
        except IntegrityError:
            raise KnowledgeBadRequest(f"Knowledge base with name '{data.name}' already exists") from None
        KnowledgeBaseState.objects.create(kb_id=kb.pk)
    return kb


def _locked(actor: User, kb_id: int, action: str) -> Kind:
    selectors.writable_kb(actor, kb_id, action)
    kb = Kind.objects.select_for_update().filter(pk=kb_id, kind=selectors.KIND, is_active=True).first()
    if kb is None:
        selectors.readable_kb(actor, kb_id)  # raises the 404
    return kb  # type: ignore[return-value]


def _save_spec(kb: Kind, spec: dict[str, Any]) -> Kind:
    kb.document = {**kb.document, "spec": spec}
    kb.resource_version += 1
    kb.save(update_fields=["document", "resource_version", "updated_at"])
    return kb


def update(
    *,
    actor: User,
    kb_id: int,
    name: str | None = None,
    description: str | None = None,
    retrieval_config: dict[str, Any] | None = None,
    summary_enabled: bool | None = None,
    summary_model_ref: Any = _UNSET,
    max_calls: int | None = None,
    exempt_calls: int | None = None,
) -> Kind:
    """Changes what may change; retriever and embedding model stay as created."""
    with transaction.atomic():
        kb = _locked(actor, kb_id, access.UPDATE)
        spec = dict(kb.spec)
        if name is not None and name != spec.get("name"):
            if kb.owner is not None and _duplicate(kb.owner, kb.namespace, name, exclude=kb.pk):
                raise KnowledgeBadRequest(f"Knowledge base with name '{name}' already exists")
            spec["name"] = name
        if description is not None:
            spec["description"] = description
        if retrieval_config is not None:
            current = spec.get("retrievalConfig")
            if not isinstance(current, dict):
                raise KnowledgeBadRequest("This knowledge base has no retrieval configuration to change")
            changes = {k: v for k, v in retrieval_config.items() if k in specs.MUTABLE_RETRIEVAL_KEYS}
            spec["retrievalConfig"] = {**current, **changes}
        if summary_enabled is not None:
            spec["summaryEnabled"] = summary_enabled
        if summary_model_ref is not _UNSET:
            _check_model(actor, summary_model_ref, "", "Summary")
            spec["summaryModelRef"] = summary_model_ref
        calls = (
            max_calls
            if max_calls is not None
            else spec.get("maxCallsPerConversation", specs.DEFAULT_MAX_CALLS)
        )
        exempt = exempt_calls if exempt_calls is not None else spec.get("exemptCallsBeforeCheck")
        if max_calls is not None or exempt_calls is not None:
            exempt = exempt if isinstance(exempt, int) else specs.DEFAULT_EXEMPT_CALLS
            if not exempt < calls:
                raise KnowledgeBadRequest(
                    "exempt_calls_before_check must be less than max_calls_per_conversation"
                )
            spec["maxCallsPerConversation"], spec["exemptCallsBeforeCheck"] = calls, exempt
        return _save_spec(kb, spec)


def change_type(*, actor: User, kb_id: int, kb_type: str) -> Kind:
    with transaction.atomic():
        kb = _locked(actor, kb_id, access.UPDATE)
        if kb_type == specs.NOTEBOOK:
            count = selectors.documents_of(kb.pk).count()
            if count > specs.NOTEBOOK_MAX_DOCUMENTS:
                raise KnowledgeBadRequest(
                    f"A notebook knowledge base holds at most {specs.NOTEBOOK_MAX_DOCUMENTS} documents; "
                    f"this one has {count}"
                )
        return _save_spec(kb, {**kb.spec, "kbType": kb_type})


def delete(*, actor: User, kb_id: int) -> None:
    """Soft-deletes an empty knowledge base (its creator, or a group Maintainer)."""
    with transaction.atomic():
        kb = _locked(actor, kb_id, access.DELETE)
        if selectors.documents_of(kb.pk).exists():
            raise KnowledgeDenied(
                "Cannot delete a knowledge base that has documents: delete all documents first"
            )
        kb.is_active = False
        kb.save(update_fields=["is_active", "updated_at"])
        ResourceMember.objects.filter(resource_type=ResourceMember.KNOWLEDGE_BASE, resource_id=kb.pk).delete()
        KnowledgeBaseState.objects.filter(kb_id=kb.pk).delete()
