"""Reads of knowledge bases and documents, behind one gate: ``can(actor, kb, action)``.

Who may do what (reference extras §1.2, with this server's one role table):
- personal (``default``) knowledge base: its owner; approved share members by their level
  (view reads, edit also changes documents and settings, manage also shares; only the owner
  deletes);
- group knowledge base: the group's roles as for every Kind (Reporter reads, Developer writes
  documents and settings, Maintainer deletes; ``kinds.selectors.can``);
- organization namespace (a group of level ``organization``): every user reads, admins write.

A knowledge base the actor cannot read answers 404 as if it did not exist; one they can read but
not change answers 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet

from accounts import selectors as account_selectors
from accounts.models import Group, User
from accounts.roles import GroupLevel
from kinds import selectors as kind_selectors
from kinds.access import DELETE, READ, UPDATE
from kinds.models import DEFAULT_NAMESPACE, Kind, ResourceMember
from kinds.specs.model import ModelView
from knowledge.exceptions import DocumentNotFound, KnowledgeBaseNotFound, KnowledgeDenied
from knowledge.models import KnowledgeChunk, KnowledgeDocument
from tasks.models import Subtask, SubtaskContext

KIND = "KnowledgeBase"
MAX_ID = kind_selectors.MAX_ROW_ID
SHARE = "share"  # manage the share link, members and join requests
# What an approved share member may do, by level; deleting stays the creator's.
LEVEL_ACTIONS = {
    ResourceMember.VIEW: (READ,),
    ResourceMember.EDIT: (READ, UPDATE),
    ResourceMember.MANAGE: (READ, UPDATE, SHARE),
}

__all__ = ["DELETE", "KIND", "READ", "SHARE", "UPDATE"]


def organization_namespaces() -> list[str]:
    rows = Group.objects.filter(level=GroupLevel.ORGANIZATION, is_active=True)
    return list(rows.values_list("name", flat=True))


def organization_namespace() -> str | None:
    names = organization_namespaces()
    return names[0] if names else None


def _shared_ids(actor: User) -> list[int]:
    return list(
        ResourceMember.objects.filter(
            resource_type=ResourceMember.KNOWLEDGE_BASE, user=actor, status=ResourceMember.APPROVED
        ).values_list("resource_id", flat=True)
    )


def _is_organization(namespace: str) -> bool:
    return namespace != DEFAULT_NAMESPACE and namespace in organization_namespaces()


def share_level(actor: User, kb_id: int) -> str | None:
    """The actor's approved share level on a knowledge base (view, edit, manage), or None."""
    return (
        ResourceMember.objects.filter(
            resource_type=ResourceMember.KNOWLEDGE_BASE,
            resource_id=kb_id,
            user=actor,
            status=ResourceMember.APPROVED,
        )
        .values_list("permission_level", flat=True)
        .first()
    )


def can(actor: User, kb: Kind, action: str) -> bool:
    """The one rule for a knowledge base row."""
    if kb.namespace != DEFAULT_NAMESPACE and _is_organization(kb.namespace):
        return action == READ or (action != SHARE and actor.is_admin)
    if action == SHARE:
        # Only personal knowledge bases are shared by link and member list; a group's are
        # shared through the group's own members.
        if kb.namespace != DEFAULT_NAMESPACE:
            return False
        return kb.owner_id == actor.pk or share_level(actor, kb.pk) == ResourceMember.MANAGE
    if kind_selectors.can(actor, kb, action):
        return True
    if kb.namespace == DEFAULT_NAMESPACE and action in (READ, UPDATE):
        return action in LEVEL_ACTIONS.get(share_level(actor, kb.pk) or "", ())
    return False


def for_user(actor: User, *, scope: str = "all", group_name: str | None = None) -> QuerySet[Kind]:
    """Active knowledge bases ``actor`` may read, by ``scope`` (all, personal, group,
    organization); ``group_name`` narrows ``group`` to one group the actor may read."""
    rows = Kind.objects.filter(kind=KIND, is_active=True)
    org = organization_namespaces()
    personal = Q(namespace=DEFAULT_NAMESPACE, owner=actor) | Q(pk__in=_shared_ids(actor))
    if group_name is not None:
        groups = [group_name] if group_name in _readable_groups(actor) or group_name in org else []
    else:
        groups = [g for g in _readable_groups(actor) if g not in org]
    conditions = {
        "personal": personal,
        "group": Q(namespace__in=groups),
        "organization": Q(namespace__in=org),
    }
    if scope == "all":
        wanted = conditions["personal"] | conditions["group"] | conditions["organization"]
    else:
        wanted = conditions[scope]
    return rows.filter(wanted).select_related("owner").order_by("-updated_at", "-id")


def _readable_groups(actor: User) -> list[str]:
    return account_selectors.readable_group_names(actor)


def kind_row(kb_id: int) -> Kind | None:
    """The active knowledge base row with this id, whoever may see it (callers check)."""
    return kind_selectors.row_by_id(KIND, kb_id) if 0 < kb_id <= MAX_ID else None


def readable_kb(actor: User, kb_id: int) -> Kind:
    kb = kind_row(kb_id)
    if kb is None or not can(actor, kb, READ):
        raise KnowledgeBaseNotFound()
    return kb


def writable_kb(actor: User, kb_id: int, action: str = UPDATE) -> Kind:
    kb = readable_kb(actor, kb_id)
    if not can(actor, kb, action):
        raise KnowledgeDenied()
    return kb


def readable_kbs(actor: User, kb_ids: Iterable[int]) -> list[Kind]:
    """The knowledge bases among ``kb_ids`` the actor may read (others silently left out)."""
    rows = kind_selectors.rows_by_id(KIND, set(kb_ids))
    return [row for row in rows.values() if can(actor, row, READ)]


def documents_of(kb_id: int) -> QuerySet[KnowledgeDocument]:
    return KnowledgeDocument.objects.filter(kind_id=kb_id)


def document_counts(kb_ids: Iterable[int]) -> dict[int, int]:
    ids = list(kb_ids)
    if not ids:
        return {}
    rows = KnowledgeDocument.objects.filter(kind_id__in=ids).values("kind_id").annotate(n=Count("id"))
    return {row["kind_id"]: row["n"] for row in rows}


def document_row(doc_id: int) -> KnowledgeDocument | None:
    return KnowledgeDocument.objects.filter(pk=doc_id).first() if 0 < doc_id <= MAX_ID else None


def readable_document(
    actor: User, doc_id: int, *, kb_id: int | None = None
) -> tuple[KnowledgeDocument, Kind]:
    """The document and its knowledge base if the actor may read them (404 otherwise)."""
    doc = document_row(doc_id)
    if doc is None or (kb_id is not None and doc.kind_id != kb_id):
        raise DocumentNotFound()
    try:
        kb = readable_kb(actor, doc.kind_id)
    except KnowledgeBaseNotFound:
        raise DocumentNotFound() from None
    return doc, kb


def writable_document(actor: User, doc_id: int) -> tuple[KnowledgeDocument, Kind]:
    doc, kb = readable_document(actor, doc_id)
    if not can(actor, kb, UPDATE):
        raise KnowledgeDenied()
    return doc, kb


def chunks_of(doc: KnowledgeDocument) -> QuerySet[KnowledgeChunk]:
    return KnowledgeChunk.objects.filter(document=doc).order_by("position")


def model_row(actor: User | None, name: str, namespace: str = DEFAULT_NAMESPACE) -> Kind | None:
    """The Model ``{name, namespace}`` means for ``actor`` (own, group, public)."""
    if actor is None:
        return kind_selectors.resolve(None, "Model", name, namespace)
    if namespace == DEFAULT_NAMESPACE:
        return kind_selectors.usable_model(actor, name)
    return kind_selectors.resolve(actor, "Model", name, namespace)


def model_category(row: Kind) -> str:
    return ModelView.of(row.spec).category


def retriever_row(actor: User, name: str, namespace: str = DEFAULT_NAMESPACE) -> Kind | None:
    return kind_selectors.resolve(actor, "Retriever", name, namespace)


def knowledge_bases_using(row: Kind) -> list[Kind]:
    """Active knowledge bases whose retrieval or summary settings name ``row`` (a Model or a
    Retriever) and resolve to it for their owner (shown on the row's admin page)."""
    if row.kind not in ("Model", "Retriever"):
        return []
    found = []
    config_path = "document__spec__retrievalConfig__"
    if row.kind == "Retriever":
        named = Q(**{f"{config_path}retriever_name": row.name})
    else:
        named = (
            Q(**{f"{config_path}embedding_config__model_name": row.name})
            | Q(**{f"{config_path}rerank_config__model_name": row.name})
            | Q(document__spec__summaryModelRef__name=row.name)
        )
    candidates = Kind.objects.filter(named, kind=KIND, is_active=True).select_related("owner").order_by("-id")
    for kb in candidates.iterator():
        spec = kb.spec
        config = spec.get("retrievalConfig") if isinstance(spec.get("retrievalConfig"), dict) else {}
        if row.kind == "Retriever":
            refs = [(config.get("retriever_name"), config.get("retriever_namespace"))]
        else:
            refs = [
                (
                    (ref or {}).get("model_name") or (ref or {}).get("name"),
                    (ref or {}).get("model_namespace") or (ref or {}).get("namespace"),
                )
                for ref in (
                    config.get("embedding_config"),
                    config.get("rerank_config"),
                    spec.get("summaryModelRef"),
                )
                if isinstance(ref, dict) or ref is None
            ]
        for name, namespace in refs:
            if name != row.name or str(namespace or DEFAULT_NAMESPACE) != row.namespace:
                continue
            target = (
                retriever_row(kb.owner, row.name, row.namespace)
                if row.kind == "Retriever"
                else model_row(kb.owner, row.name, row.namespace)
            )
            if target is not None and target.pk == row.pk:
                found.append(kb)
                break
        if len(found) == 50:
            break
    return found


def locked_kb(kb_id: int) -> Kind:
    """The knowledge base row locked for the caller's transaction (serialises document adds, so
    the notebook cap holds under concurrency)."""
    kb = kind_selectors.locked_row_by_id(KIND, kb_id)
    if kb is None:
        raise KnowledgeBaseNotFound()
    return kb


def table_documents(actor: User) -> QuerySet[KnowledgeDocument]:
    kb_ids = for_user(actor).values_list("pk", flat=True)
    return KnowledgeDocument.objects.filter(kind_id__in=list(kb_ids), source_type=KnowledgeDocument.TABLE)


def qa_history(
    *, user_id: int, start: Any, end: Any, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The user's messages asked with a knowledge base in [start, end], newest first, with their
    answers and the knowledge bases' settings; and how many there are."""
    rows = SubtaskContext.objects.filter(
        context_type=SubtaskContext.KNOWLEDGE_BASE,
        subtask__isnull=False,
        user_id=user_id,
        created_at__gte=start,
        created_at__lte=end,
    ).select_related("subtask")
    total = rows.count()
    page = list(rows.order_by("-created_at", "-id")[offset : offset + limit])
    asked = [(c.subtask.task_id, c.subtask.message_id) for c in page if c.subtask is not None]
    answers: dict[tuple[int, int], Any] = {}
    if asked:
        found = Subtask.objects.filter(
            task_id__in={t for t, _ in asked}, parent_id__in={m for _, m in asked}, role=Subtask.ASSISTANT
        )
        answers = {(a.task_id, a.parent_id): a for a in found}
    kbs = kind_selectors.rows_by_id(KIND, {(c.type_data or {}).get("knowledge_id") for c in page})
    items = []
    for context in page:
        message = context.subtask
        data = context.type_data if isinstance(context.type_data, dict) else {}
        answer = answers.get((message.task_id, message.message_id))
        result = answer.result if answer is not None and isinstance(answer.result, dict) else {}
        kb = kbs.get(data.get("knowledge_id"))
        rag = data.get("rag_result") if isinstance(data.get("rag_result"), dict) else {}
        items.append(
            {
                "task_id": message.task_id,
                "user_id": context.user_id,
                "subtask_id": message.pk,
                "subtask_context_id": context.pk,
                "user_prompt": message.prompt,
                "assistant_answer": result.get("value") if result else None,
                "knowledge_base_result": {
                    "extracted_text": context.extracted_text,
                    "type_data": {
                        "knowledge_id": data.get("knowledge_id"),
                        "document_count": data.get("document_count"),
                        "sources": rag.get("sources", []),
                    },
                },
                "knowledge_base_config": {
                    "id": kb.pk,
                    "name": kb.spec.get("name"),
                    "retrieval_config": kb.spec.get("retrievalConfig"),
                }
                if kb is not None
                else None,
                "created_at": context.created_at,
            }
        )
    return items, total


def document_text(doc: KnowledgeDocument) -> str:
    """The document's readable text (detail route, kb_head, summaries): the attachment's
    extracted text, or the stored chunks joined when the file is gone."""
    context = SubtaskContext.objects.filter(pk=doc.attachment_id).only("extracted_text").first()
    if context is not None and context.extracted_text:
        return context.extracted_text
    chunks = (
        KnowledgeChunk.objects.filter(document=doc).order_by("position").values_list("content", flat=True)
    )
    return "\n".join(chunks)
