"""What a chat turn may search and read (reference extras §1.9), for the chat app's
``knowledge_base_search``, ``kb_ls`` and ``kb_head`` tools.

The turn's knowledge bases are those its message picked (``contexts`` of type
``knowledge_base``) and those bound to its task (``spec.knowledgeBaseRefs``), each only if the
sender may read it: another user's knowledge base id in ``contexts`` is silently left out, so a
chunk of it can never reach the answer. Picked ones get the strict prompt (answer from the
knowledge base), bound ones the relaxed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import User
from kinds.models import Kind
from knowledge import selectors, specs
from knowledge.models import KnowledgeChunk, KnowledgeDocument
from knowledge.services import retrieval
from tasks.models import Subtask, SubtaskContext

MAX_INJECTED_CHUNKS = 10_000
TOKENS_PER_CHAR = 1.5  # the reference estimates a document's tokens as 1.5 per extracted character


@dataclass(frozen=True)
class TurnBase:
    kb: Kind
    name: str
    strict: bool  # picked in the message (else bound to the task)
    rag_enabled: bool
    document_count: int
    estimated_tokens: int
    max_calls: int
    exempt_calls: int
    # The documents the message narrowed this knowledge base to (None: all of them), and whether
    # they came as the notebook's ``selected_documents`` (small ones are then given whole).
    document_ids: frozenset[int] | None = None
    selected: bool = False


@dataclass(frozen=True)
class TurnKnowledge:
    actor: User
    bases: list[TurnBase] = field(default_factory=list)
    # The user message's ``knowledge_base`` context of each picked knowledge base (kb id ->
    # context id): where each search's result is kept for history and the QA history route.
    contexts: dict[int, int] = field(default_factory=dict)

    def by_id(self, kb_id: int) -> TurnBase | None:
        return next((b for b in self.bases if b.kb.pk == kb_id), None)


Scope = tuple[int, tuple[int, ...], bool]  # (kb id, document ids, from selected_documents)


def _sizes(kb_ids: list[int], scopes: dict[int, frozenset[int]]) -> dict[int, tuple[int, int]]:
    """(documents, extracted characters of the indexed ones) per knowledge base, counting only
    the scoped documents where the message narrowed a knowledge base."""
    sizes: dict[int, tuple[int, int]] = {}
    rows = KnowledgeDocument.objects.filter(kind_id__in=kb_ids).values_list(
        "kind_id", "pk", "text_length", "is_active"
    )
    for kb_id, doc_id, length, active in rows:
        if kb_id in scopes and doc_id not in scopes[kb_id]:
            continue
        count, chars = sizes.get(kb_id, (0, 0))
        sizes[kb_id] = (count + 1, chars + (length if active else 0))
    return sizes


def _scopes(scopes: tuple[Scope, ...]) -> tuple[dict[int, frozenset[int]], set[int]]:
    """The message's document scopes by knowledge base (two scopes of one knowledge base add
    up), and the knowledge bases scoped as selected documents."""
    ids: dict[int, frozenset[int]] = {}
    selected: set[int] = set()
    for kb_id, doc_ids, is_selected in scopes:
        ids[kb_id] = ids.get(kb_id, frozenset()) | frozenset(doc_ids)
        if is_selected:
            selected.add(kb_id)
    return ids, selected


def for_turn(
    user_id: int,
    picked_ids: tuple[int, ...],
    bound_ids: tuple[int, ...],
    answer_id: int = 0,
    scopes: tuple[Scope, ...] = (),
) -> TurnKnowledge | None:
    """The turn's knowledge bases (None when it has none): ``picked_ids`` from the message,
    ``bound_ids`` from the task's bindings, ``scopes`` the documents the message narrowed
    picked ones to. The picked ones are recorded as ``knowledge_base`` contexts of the message
    ``answer_id`` answers (once, a retry reuses them)."""
    if not picked_ids and not bound_ids:
        return None
    actor = User.objects.filter(pk=user_id).first()
    if actor is None:
        return None
    picked = selectors.readable_kbs(actor, picked_ids)
    picked_set = {kb.pk for kb in picked}
    bound = [kb for kb in selectors.readable_kbs(actor, bound_ids) if kb.pk not in picked_set]
    kbs = sorted(picked, key=lambda kb: picked_ids.index(kb.pk)) + bound
    if not kbs:
        return None
    scoped, selected = _scopes(scopes)
    scoped = {kb_id: ids for kb_id, ids in scoped.items() if kb_id in picked_set}
    sizes = _sizes([kb.pk for kb in kbs], scoped)
    bases = []
    for kb in kbs:
        view = specs.KnowledgeBaseView.of(kb.spec)
        count, chars = sizes.get(kb.pk, (0, 0))
        bases.append(
            TurnBase(
                kb=kb,
                name=view.name,
                strict=kb.pk in picked_set,
                rag_enabled=view.rag_enabled,
                document_count=count,
                estimated_tokens=int(chars * TOKENS_PER_CHAR),
                max_calls=view.max_calls,
                exempt_calls=view.exempt_calls,
                document_ids=scoped.get(kb.pk),
                selected=kb.pk in scoped and kb.pk in selected,
            )
        )
    return TurnKnowledge(actor=actor, bases=bases, contexts=_record_contexts(actor, answer_id, bases))


def _record_contexts(actor: User, answer_id: int, bases: list[TurnBase]) -> dict[int, int]:
    picked = [b for b in bases if b.strict]
    answer = Subtask.objects.filter(pk=answer_id).only("task_id", "parent_id").first() if answer_id else None
    message = (
        Subtask.objects.filter(task_id=answer.task_id, message_id=answer.parent_id, role=Subtask.USER).first()
        if answer is not None and answer.parent_id
        else None
    )
    if message is None or not picked:
        return {}
    with transaction.atomic():
        existing = {
            (c.type_data or {}).get("knowledge_id"): c.pk
            for c in SubtaskContext.objects.filter(
                subtask=message, context_type=SubtaskContext.KNOWLEDGE_BASE
            )
        }
        for base in picked:
            if base.kb.pk not in existing:
                context = SubtaskContext.objects.create(
                    subtask=message,
                    user=actor,
                    context_type=SubtaskContext.KNOWLEDGE_BASE,
                    name=base.name,
                    status="pending",
                    type_data={"knowledge_id": base.kb.pk, "document_count": base.document_count},
                )
                existing[base.kb.pk] = context.pk
    return {kb_id: ctx_id for kb_id, ctx_id in existing.items() if isinstance(kb_id, int)}


def save_result(
    turn: TurnKnowledge, query: str, mode: str, hits: list[retrieval.Hit], sources: list[dict[str, Any]]
) -> None:
    """Keeps a search's result on each picked knowledge base's context (the reference's
    ``rag_result``): the retrieved text for retrieval (not for direct injection), the sources."""
    for kb_id, context_id in turn.contexts.items():
        mine = [h for h in hits if h.kb_id == kb_id]
        context = SubtaskContext.objects.filter(pk=context_id).first()
        if context is None:
            continue
        data = context.type_data if isinstance(context.type_data, dict) else {}
        previous = data.get("rag_result") if isinstance(data.get("rag_result"), dict) else {}
        context.type_data = {
            **data,
            "rag_result": {
                "sources": [s for s in sources if s.get("kb_id") == kb_id],
                "injection_mode": mode,
                "query": query,
                "chunks_count": len(mine),
                "retrieval_count": int(previous.get("retrieval_count") or 0) + 1,
            },
        }
        if mode == "rag_retrieval":
            context.extracted_text = "\n\n".join(h.content for h in mine)
            context.text_length = len(context.extracted_text)
        context.status = "ready" if mine else "empty"
        context.save(update_fields=["type_data", "extracted_text", "text_length", "status", "updated_at"])


def search(turn: TurnKnowledge, query: str, max_results: int) -> list[retrieval.Hit]:
    """Each RAG-enabled knowledge base searched with its own settings, merged by score."""
    hits: list[retrieval.Hit] = []
    for base in turn.bases:
        if base.rag_enabled:
            asked = retrieval.query_for(base.kb, query, document_ids=base.document_ids)
            hits.extend(retrieval.search(base.kb, asked, user_name=turn.actor.user_name))
    hits.sort(key=lambda h: -h.score)
    return hits[:max_results]


def all_chunks(turn: TurnKnowledge) -> list[retrieval.Hit]:
    """Every chunk of the turn's enabled documents, in document order (direct injection)."""
    if not turn.bases:
        return []
    wanted = Q()
    for base in turn.bases:
        wanted |= Q(kb_id=base.kb.pk) & (
            Q(document_id__in=base.document_ids) if base.document_ids is not None else Q()
        )
    rows = (
        KnowledgeChunk.objects.filter(
            wanted, document__status=KnowledgeDocument.ENABLED, document__is_active=True
        )
        .select_related("document")
        .order_by("kb_id", "document_id", "position")[:MAX_INJECTED_CHUNKS]
    )
    return [
        retrieval.Hit(c.pk, c.kb_id, c.document_id, c.document.name, c.position, c.content, 1.0) for c in rows
    ]


def selected_text(base: TurnBase) -> list[tuple[KnowledgeDocument, str]]:
    """The selected documents of a knowledge base with their text, in the order of their ids
    (only documents of that knowledge base: ids of others are ignored)."""
    if not base.document_ids:
        return []
    rows = KnowledgeDocument.objects.filter(kind_id=base.kb.pk, pk__in=base.document_ids).order_by("id")
    return [(doc, selectors.document_text(doc)) for doc in rows]


def document_urls(doc_ids: set[int]) -> dict[int, str | None]:
    """The web address of each document that came from one (``source_config.url``; web pages
    and tables), for the ``url`` of a citation; None for files and pasted text."""
    if not doc_ids:
        return {}
    rows = KnowledgeDocument.objects.filter(pk__in=doc_ids).values_list("pk", "source_config")
    urls: dict[int, str | None] = {}
    for pk, config in rows:
        url = config.get("url") if isinstance(config, dict) else None
        urls[pk] = url if isinstance(url, str) and url else None
    return urls


def list_documents(turn: TurnKnowledge, kb_id: int) -> list[dict[str, Any]] | None:
    """``kb_ls``: the knowledge base's documents (None: not one of the turn's)."""
    if turn.by_id(kb_id) is None:
        return None
    return [
        {
            "id": doc.pk,
            "name": doc.name,
            "file_extension": doc.file_extension,
            "file_size": doc.file_size,
            "short_summary": (doc.summary or {}).get("short_summary")
            if isinstance(doc.summary, dict)
            else None,
            "is_active": doc.is_active,
            "created_at": doc.created_at.isoformat(),
        }
        for doc in selectors.documents_of(kb_id).order_by("id")
    ]


def read_document(turn: TurnKnowledge, doc_id: int, offset: int, limit: int) -> dict[str, Any] | None:
    """``kb_head``: a window of a document of the turn's knowledge bases (None: not one)."""
    doc = selectors.document_row(doc_id)
    if doc is None or turn.by_id(doc.kind_id) is None:
        return None
    text = selectors.document_text(doc)
    window = text[offset : offset + limit]
    return {
        "document_id": doc.pk,
        "name": doc.name,
        "content": window,
        "total_length": len(text),
        "offset": offset,
        "returned_length": len(window),
        "has_more": offset + len(window) < len(text),
        "kb_id": doc.kind_id,
    }
