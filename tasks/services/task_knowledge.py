"""Knowledge bases bound to a group chat (reference §6.9), kept in the task document.

The bindings live in ``spec.knowledgeBaseRefs`` as ``[{id, name, namespace, boundBy, boundAt}]``.
The owner and every approved member may list, bind and unbind (the reference's rule); binding
needs a group chat and a knowledge base the caller can read. A knowledge base the caller cannot
read answers 404 like a missing one (the reference's 403 would confirm that it exists).
``document_count`` comes from the knowledge app (``document_counters``), 0 without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from accounts.models import User
from kinds import selectors as kind_selectors
from kinds.models import DEFAULT_NAMESPACE, Kind
from tasks import documents, selectors
from tasks.models import TaskResource
from tasks.services.members import NOT_GROUP_CHAT, locked_task, now_iso, require_access
from wegent.errors import BadRequest, NotFound
from wegent.hooks import Hook

KNOWLEDGE_BASE = "KnowledgeBase"
MAX_BOUND = 10

# The knowledge app (above this one) counts documents: counter(kb_ids) -> {kb_id: count}.
document_counters: Hook[Callable[[list[int]], dict[int, int]]] = Hook(
    "tasks.knowledge_document_counts", "counter(kb_ids) -> {kb_id: documents}; the first one answers"
)


def _document_counts(kb_ids: list[int]) -> dict[int, int]:
    for counter in document_counters:
        return counter(kb_ids)
    return {}


def _refs(task: TaskResource) -> list[dict[str, Any]]:
    refs = task.spec.get("knowledgeBaseRefs")
    return [ref for ref in refs if isinstance(ref, dict)] if isinstance(refs, list) else []


def _ref_namespace(ref: dict[str, Any]) -> str:
    return str(ref.get("namespace") or DEFAULT_NAMESPACE)


def _bound_item(ref: dict[str, Any], kb: Kind, document_count: int = 0) -> dict[str, Any]:
    """``BoundKnowledgeBaseResponse``."""
    return {
        "id": kb.pk,
        "name": str(ref.get("name") or kb.name),
        "namespace": _ref_namespace(ref),
        "display_name": str(kb.spec.get("name") or kb.name),
        "description": kb.spec.get("description"),
        "document_count": document_count,
        "bound_by": str(ref.get("boundBy") or "Unknown"),
        "bound_at": str(ref.get("boundAt") or ""),
    }


def _resolve_refs(task: TaskResource, refs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Kind]]:
    """Each ref's knowledge base, by id in one query (by name for refs written without an id);
    refs whose knowledge base is gone are left out, as in the reference."""
    by_id = kind_selectors.rows_by_id(
        KNOWLEDGE_BASE, {ref["id"] for ref in refs if isinstance(ref.get("id"), int)}
    )
    found = []
    for ref in refs:
        kb: Kind | None
        if isinstance(ref.get("id"), int):
            kb = by_id.get(ref["id"])
        elif isinstance(ref.get("name"), str):
            kb = kind_selectors.resolve(task.owner, KNOWLEDGE_BASE, ref["name"], _ref_namespace(ref))
        else:
            kb = None
        if kb is not None:
            found.append((ref, kb))
    return found


def bound_ids(task: TaskResource) -> tuple[int, ...]:
    """The ids of the knowledge bases bound to the task, read from the row the caller has (the
    chat runner: no query)."""
    return tuple(ref["id"] for ref in _refs(task) if isinstance(ref.get("id"), int))


def list_bound(*, actor: User, task_id: int) -> dict[str, Any]:
    task = require_access(actor, selectors.task_row(task_id))
    bound = _resolve_refs(task, _refs(task))
    counts = _document_counts([kb.pk for _, kb in bound])
    items = [_bound_item(ref, kb, counts.get(kb.pk, 0)) for ref, kb in bound]
    return {"items": items, "total": len(items), "max_limit": MAX_BOUND}


def _matches(ref: dict[str, Any], *, name: str, namespace: str, kb_id: int | None) -> bool:
    if kb_id is not None and ref.get("id") == kb_id:
        return True
    return ref.get("name") == name and _ref_namespace(ref) == namespace


def bind(*, actor: User, task_id: int, kb_name: str, kb_namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    with transaction.atomic():
        task = require_access(actor, locked_task(task_id))
        if not task.is_group_chat:
            raise BadRequest(NOT_GROUP_CHAT)
        kb = kind_selectors.resolve(actor, KNOWLEDGE_BASE, kb_name, kb_namespace)
        if kb is None:
            raise NotFound("Knowledge base not found")
        refs = _refs(task)
        if len(refs) >= MAX_BOUND:
            raise BadRequest(f"Cannot bind more than {MAX_BOUND} knowledge bases")
        if any(_matches(ref, name=kb_name, namespace=kb_namespace, kb_id=kb.pk) for ref in refs):
            raise BadRequest("Knowledge base is already bound")
        ref = {
            "id": kb.pk,
            "name": kb_name,
            "namespace": kb_namespace,
            "boundBy": actor.user_name,
            "boundAt": now_iso(),
        }
        task.document = documents.changed(task.document, spec={"knowledgeBaseRefs": [*refs, ref]})
        task.save(update_fields=["document", "updated_at"])
    return _bound_item(ref, kb, _document_counts([kb.pk]).get(kb.pk, 0))


def unbind(
    *,
    actor: User,
    task_id: int,
    kb_name: str,
    kb_namespace: str = DEFAULT_NAMESPACE,
    kb_id: int | None = None,
) -> dict[str, Any]:
    """Removes the binding matching ``kb_id`` (preferred) or name and namespace."""
    with transaction.atomic():
        task = require_access(actor, locked_task(task_id))
        refs = _refs(task)
        kept = [ref for ref in refs if not _matches(ref, name=kb_name, namespace=kb_namespace, kb_id=kb_id)]
        if len(kept) == len(refs):
            raise NotFound("Knowledge base is not bound to this task")
        task.document = documents.changed(task.document, spec={"knowledgeBaseRefs": kept})
        task.save(update_fields=["document", "updated_at"])
    return {
        "message": "Knowledge base unbound successfully",
        "kb_name": kb_name,
        "kb_namespace": kb_namespace,
    }
