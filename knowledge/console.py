"""A KnowledgeBase edited as YAML in the Kinds console (``kinds/admin_editors.py``).

The document is read as the knowledge bases' update route reads its body (the same serializers
and ``knowledge.services.bases.update`` / ``change_type``), written as the knowledge base's
creator (their role decides, as on the route). Only what that route may change can change here;
a document that changes anything else (the retriever, the embedding model) is refused, never
silently ignored. A stale ``metadata.resourceVersion`` is refused.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User
from kinds.models import Kind
from knowledge import specs
from knowledge.api.serializers import KnowledgeBaseUpdate, TypeChange
from knowledge.exceptions import KnowledgeBadRequest, KnowledgeDenied
from knowledge.services import bases
from wegent.errors import InvalidInput

UPDATED, UNCHANGED = "updated", "unchanged"
# Spec keys the update route changes -> its body's field names.
_FIELDS = {
    "name": "name",
    "description": "description",
    "summaryEnabled": "summary_enabled",
    "summaryModelRef": "summary_model_ref",
    "maxCallsPerConversation": "max_calls_per_conversation",
    "exemptCallsBeforeCheck": "exempt_calls_before_check",
}
_OTHER_EDITABLE = {"retrievalConfig", "kbType"}


_SPEC_KEYS = {field: key for key, field in _FIELDS.items()} | {"retrieval_config": "retrievalConfig"}


def _validated(serializer_class: type[serializers.Serializer], data: dict[str, Any]) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        errors = [
            {
                "loc": ["spec", _SPEC_KEYS.get(field, field)],
                "msg": _flat(messages),
                "type": "value_error",
            }
            for field, messages in serializer.errors.items()
        ]
        detail = "; ".join(f"spec.{error['loc'][1]}: {error['msg']}" for error in errors)
        raise InvalidInput(errors, detail)
    return dict(serializer.validated_data)


def _flat(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {_flat(value)}" for key, value in messages.items())
    if isinstance(messages, list):
        return " ".join(_flat(message) for message in messages)
    return str(messages)


def edit(operator: User, row: Kind, document: dict[str, Any]) -> str:
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise KnowledgeBadRequest("spec must be a mapping")
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    version = metadata.get("resourceVersion")
    if version not in (None, "") and str(version) != str(row.resource_version):
        raise KnowledgeBadRequest(
            f"KnowledgeBase '{row.name}' has been modified: resourceVersion {version} is stale "
            f"(current {row.resource_version}); read it again and retry"
        )
    current = row.spec
    fixed = sorted(
        key
        for key in {*spec, *current}
        if key not in _FIELDS and key not in _OTHER_EDITABLE and spec.get(key) != current.get(key)
    )
    stored_retrieval = current.get("retrievalConfig") or {}
    edited_retrieval = spec.get("retrievalConfig") or {}
    if not isinstance(edited_retrieval, dict):
        raise KnowledgeBadRequest("spec.retrievalConfig must be a mapping")
    fixed += sorted(
        f"retrievalConfig.{key}"
        for key in {*stored_retrieval, *edited_retrieval}
        if key not in specs.MUTABLE_RETRIEVAL_KEYS and edited_retrieval.get(key) != stored_retrieval.get(key)
    )
    if fixed:
        raise KnowledgeBadRequest(f"These cannot be changed on a knowledge base: {', '.join(fixed)}")

    body = {field: spec.get(key) for key, field in _FIELDS.items() if spec.get(key) != current.get(key)}
    retrieval = {
        key: edited_retrieval.get(key)
        for key in specs.MUTABLE_RETRIEVAL_KEYS
        if edited_retrieval.get(key) != stored_retrieval.get(key)
    }
    if retrieval:
        body["retrieval_config"] = retrieval
    kb_type = spec.get("kbType") if spec.get("kbType") != current.get("kbType") else None
    if not body and kb_type is None:
        return UNCHANGED
    changes = _validated(KnowledgeBaseUpdate, body) if body else {}
    type_change = _validated(TypeChange, {"kb_type": kb_type}) if kb_type is not None else None
    actor = row.owner
    if actor is None or not actor.is_active:
        raise KnowledgeDenied("The knowledge base's creator is gone; it cannot be edited here")
    if changes:
        # summary_model_ref only when it changed: None means "no summary model" to the service.
        summary = (
            {"summary_model_ref": changes["summary_model_ref"]} if "summary_model_ref" in changes else {}
        )
        bases.update(
            actor=actor,
            kb_id=row.pk,
            name=changes.get("name"),
            description=changes.get("description"),
            retrieval_config=changes.get("retrieval_config"),
            summary_enabled=changes.get("summary_enabled"),
            max_calls=changes.get("max_calls_per_conversation"),
            exempt_calls=changes.get("exempt_calls_before_check"),
            **summary,
        )
    if type_change is not None:
        bases.change_type(actor=actor, kb_id=row.pk, kb_type=type_change["kb_type"])
    return UPDATED
