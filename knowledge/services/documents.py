"""Documents of a knowledge base: add, rename/enable/disable, edit content, reindex, delete,
batches (reference extras §1.3-§1.4).

Adding one needs write access to the knowledge base and, for every source but ``table``, an
attachment the actor uploaded; a notebook holds at most 50 documents. A document becomes
``enabled`` when its indexing succeeds (``knowledge.services.indexing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from accounts.models import User
from kinds import selectors as kind_selectors
from knowledge import selectors, specs
from knowledge.exceptions import KnowledgeBadRequest, KnowledgeDenied
from knowledge.models import KnowledgeChunk, KnowledgeDocument
from knowledge.services import indexing, summaries, vector_store
from tasks.models import SubtaskContext
from tasks.services import attachments
from wegent.errors import DomainError, NotFound


@dataclass(frozen=True)
class DocumentInput:
    name: str
    attachment_id: int = 0
    file_extension: str = ""
    file_size: int = 0
    splitter_config: dict[str, Any] = field(default_factory=dict)
    source_type: str = KnowledgeDocument.FILE
    source_config: dict[str, Any] = field(default_factory=dict)


def _check_cap(kb_id: int, spec: dict[str, Any]) -> None:
    if specs.KnowledgeBaseView.of(spec).kb_type != specs.NOTEBOOK:
        return
    if selectors.documents_of(kb_id).count() >= specs.NOTEBOOK_MAX_DOCUMENTS:
        raise KnowledgeBadRequest(
            f"A notebook knowledge base holds at most {specs.NOTEBOOK_MAX_DOCUMENTS} documents"
        )


def create(*, actor: User, kb_id: int, data: DocumentInput) -> KnowledgeDocument:
    selectors.writable_kb(actor, kb_id)
    if data.source_type == KnowledgeDocument.TABLE:
        if not isinstance(data.source_config.get("url"), str) or not data.source_config["url"]:
            raise KnowledgeBadRequest("A table document needs source_config.url")
    elif data.attachment_id <= 0:
        raise KnowledgeBadRequest("attachment_id is required")
    else:
        attachments.own_attachment(actor, data.attachment_id)  # 404 for anyone else's
    with transaction.atomic():
        kb = selectors.locked_kb(kb_id)
        _check_cap(kb.pk, kb.spec)
        doc = KnowledgeDocument.objects.create(
            kind_id=kb.pk,
            attachment_id=data.attachment_id if data.source_type != KnowledgeDocument.TABLE else 0,
            name=data.name,
            file_extension=data.file_extension.lstrip(".").lower(),
            file_size=data.file_size,
            user=actor,
            splitter_config=data.splitter_config,
            source_type=data.source_type,
            source_config=data.source_config,
        )
        indexing.request(doc, kb)
    return doc


def update(
    *, actor: User, doc_id: int, name: str | None, status: str | None, splitter_config: dict[str, Any] | None
) -> KnowledgeDocument:
    """Renames, enables or disables; a new splitter config re-indexes."""
    with transaction.atomic():
        doc, kb = selectors.writable_document(actor, doc_id)
        doc = KnowledgeDocument.objects.select_for_update().get(pk=doc.pk)
        if name is not None and name != doc.name:
            doc.name = name
            indexing.bump_generation(doc.kind_id)  # search results carry the name
        if status is not None and status != doc.status:
            if status == KnowledgeDocument.ENABLED and doc.index_status not in (
                KnowledgeDocument.READY,
                KnowledgeDocument.NOT_INDEXED,
            ):
                raise KnowledgeBadRequest("Only an indexed document can be enabled")
            doc.status = status
            indexing.bump_generation(doc.kind_id)
        doc.save()
        if splitter_config is not None and splitter_config != doc.splitter_config:
            doc.splitter_config = splitter_config
            doc.save(update_fields=["splitter_config", "updated_at"])
            indexing.request(doc, kb)
    return doc


def reindex(*, actor: User, doc_id: int) -> KnowledgeDocument:
    with transaction.atomic():
        doc, kb = selectors.writable_document(actor, doc_id)
        if doc.source_type == KnowledgeDocument.TABLE:
            raise KnowledgeBadRequest("Table documents are not indexed")
        if not specs.KnowledgeBaseView.of(kb.spec).rag_enabled:
            raise KnowledgeBadRequest("This knowledge base has no retrieval configuration")
        doc = KnowledgeDocument.objects.select_for_update().get(pk=doc.pk)
        indexing.request(doc, kb)
    return doc


def update_content(*, actor: User, doc_id: int, content: str) -> KnowledgeDocument:
    """Replaces the text of a pasted-text document and re-indexes it."""
    with transaction.atomic():
        doc, kb = selectors.writable_document(actor, doc_id)
        if doc.source_type not in (KnowledgeDocument.TEXT, KnowledgeDocument.WEB):
            raise KnowledgeBadRequest("Only text documents can be edited")
        context = SubtaskContext.objects.select_for_update().filter(pk=doc.attachment_id).first()
        if context is None:
            raise KnowledgeBadRequest("The document's file is missing")
        data = context.type_data if isinstance(context.type_data, dict) else {}
        context.extracted_text, context.text_length = content, len(content)
        context.type_data = {**data, indexing.TEXT_EDITED: True}
        context.save(update_fields=["extracted_text", "text_length", "type_data", "updated_at"])
        doc = KnowledgeDocument.objects.select_for_update().get(pk=doc.pk)
        doc.file_size = len(content.encode())
        doc.save(update_fields=["file_size", "updated_at"])
        indexing.request(doc, kb)
    return doc


def _delete_locked(doc: KnowledgeDocument) -> None:
    attachment_id = doc.attachment_id
    doc_id = doc.pk
    doc.delete()  # chunks (and their keyword index and pgvector rows) go with it
    indexing.bump_generation(doc.kind_id)
    vector_store.forget_points(kind_selectors.row_by_id(selectors.KIND, doc.kind_id), doc_id)
    if attachment_id:
        # The file was uploaded for this document: unlinked, nothing else refers to it.
        SubtaskContext.objects.filter(
            pk=attachment_id, subtask__isnull=True, context_type=SubtaskContext.ATTACHMENT
        ).exclude(
            pk__in=KnowledgeDocument.objects.filter(attachment_id=attachment_id).values("attachment_id")
        ).delete()


def delete(*, actor: User, doc_id: int) -> None:
    with transaction.atomic():
        doc, kb = selectors.writable_document(actor, doc_id)
        _delete_locked(doc)
        summaries.after_deleted(kb)


@dataclass
class BatchResult:
    success_count: int = 0
    failed_ids: list[int] = field(default_factory=list)

    def as_dict(self, verb: str) -> dict[str, Any]:
        return {
            "success_count": self.success_count,
            "failed_count": len(self.failed_ids),
            "failed_ids": self.failed_ids,
            "message": f"{self.success_count} document(s) {verb}, {len(self.failed_ids)} failed",
        }


def batch(*, actor: User, doc_ids: list[int], operation: str) -> BatchResult:
    """``delete``, ``enable`` or ``disable`` each document the actor may change; all refused is
    a 403."""
    result = BatchResult()
    for doc_id in dict.fromkeys(doc_ids):
        try:
            if operation == "delete":
                delete(actor=actor, doc_id=doc_id)
            else:
                status = KnowledgeDocument.ENABLED if operation == "enable" else KnowledgeDocument.DISABLED
                update(actor=actor, doc_id=doc_id, name=None, status=status, splitter_config=None)
            result.success_count += 1
        except DomainError:
            result.failed_ids.append(doc_id)
    if doc_ids and result.success_count == 0:
        raise KnowledgeDenied(f"No document could be changed: {result.failed_ids}")
    return result


def chunk(*, actor: User, doc_id: int, index: int) -> tuple[KnowledgeDocument, KnowledgeChunk]:
    doc, _ = selectors.readable_document(actor, doc_id)
    row = KnowledgeChunk.objects.filter(document=doc, position=index).first() if index >= 0 else None
    if row is None:
        raise NotFound("Chunk not found")
    return doc, row


def upload_and_index(
    *, actor: User, kb_id: int, filename: str, file: Any, size: int, splitter_config: dict[str, Any]
) -> KnowledgeDocument:
    """``/api/rag/documents/upload``: the file becomes an attachment and a document, indexed
    before this returns; a failure answers 400 with the reason (the document stays, ``failed``)."""
    kb = selectors.writable_kb(actor, kb_id)
    if not specs.KnowledgeBaseView.of(kb.spec).rag_enabled:
        raise KnowledgeBadRequest("This knowledge base has no retrieval configuration")
    attachment = attachments.upload_attachment(actor=actor, filename=filename, file=file, size=size)
    extension = (
        attachment.type_data.get("file_extension", "") if isinstance(attachment.type_data, dict) else ""
    )
    data = DocumentInput(
        name=attachment.name,
        attachment_id=attachment.pk,
        file_extension=str(extension),
        file_size=size,
        splitter_config=splitter_config,
    )
    with indexing.inline():
        doc = create(actor=actor, kb_id=kb_id, data=data)
    doc.refresh_from_db()
    if doc.index_status != KnowledgeDocument.READY:
        raise KnowledgeBadRequest(f"Indexing failed: {doc.index_error}")
    return doc
