"""Indexing one document: extract, split, embed in batches, store (reference extras §1.4).

``request`` marks the document pending under a new generation and queues the Celery task once
the transaction commits; ``run`` (the task's body) does the work. Progress (status and percent)
is saved on the row and pushed to the uploader over ``/chat``.

Consistency: the new chunks replace the old ones in one transaction, and only if the generation
is still the one this run was queued for (a newer request supersedes it). Any failure, a crash
included, leaves the document ``failed`` with a reason, disabled, and without chunks, so it is
never half-indexed and enabled; ``reindex`` retries it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import transaction

from kinds import selectors as kind_selectors
from kinds.connections import connection_for
from kinds.models import Kind
from knowledge import embeddings, external, protocol, selectors, specs, splitters
from knowledge import vectors as vector_index
from knowledge.models import KnowledgeBaseState, KnowledgeChunk, KnowledgeDocument
from knowledge.services import summaries, vector_store
from tasks.attachments import parser, storage
from tasks.models import SubtaskContext
from wegent.realtime.emitter import emit_sync
from wegent.realtime.rooms import user_room

logger = logging.getLogger("wegent.knowledge")
TEXT_EDITED = "knowledge_text_edited"  # attachment type_data flag: the content route replaced it


class IndexFailure(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def indexable(doc: KnowledgeDocument, kb: Kind) -> bool:
    return doc.source_type != KnowledgeDocument.TABLE and specs.KnowledgeBaseView.of(kb.spec).rag_enabled


def request(doc: KnowledgeDocument, kb: Kind) -> None:
    """Queues (re)indexing after the caller's transaction commits; a document that is not
    indexed (table, or a knowledge base without retrieval config) is marked so."""
    if not indexable(doc, kb):
        doc.index_status, doc.index_progress = KnowledgeDocument.NOT_INDEXED, 0
        doc.save(update_fields=["index_status", "index_progress", "updated_at"])
        return
    doc_id, generation = doc.pk, begin(doc)
    if getattr(_inline, "active", False):
        transaction.on_commit(lambda: run(doc_id, generation))
    else:
        transaction.on_commit(lambda: _queue(doc_id, generation), robust=True)


def begin(doc: KnowledgeDocument) -> int:
    """Marks the document pending under a new generation (superseding any run in progress)."""
    doc.index_generation += 1
    doc.index_status, doc.index_progress, doc.index_error = KnowledgeDocument.PENDING, 0, ""
    fields = ["index_generation", "index_status", "index_progress", "index_error", "updated_at"]
    doc.save(update_fields=fields)
    return doc.index_generation


def reindex_now(doc_id: int) -> KnowledgeDocument | None:
    """Indexes one document in this process (the ``index`` command); None if it is not indexable."""
    with transaction.atomic():
        doc = KnowledgeDocument.objects.select_for_update().filter(pk=doc_id).first()
        kb = kind_selectors.row_by_id(selectors.KIND, doc.kind_id) if doc is not None else None
        if doc is None or kb is None or not indexable(doc, kb):
            return None
        generation = begin(doc)
    run(doc_id, generation)
    return KnowledgeDocument.objects.filter(pk=doc_id).first()


def _run_inline(document_id: int, generation: int) -> None:
    run(document_id, generation)


# How a request reaches a worker: ``knowledge.tasks`` sets the Celery task's ``delay`` when the
# app is ready (this module cannot import the task module, which imports it).
_queue: Callable[[int, int], Any] = _run_inline


def queue_with(queue: Callable[[int, int], Any]) -> None:
    global _queue
    _queue = queue


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """Requests made inside run in this thread when their transaction commits (the synchronous
    upload route), whatever the queue."""
    _inline.active = True
    try:
        yield
    finally:
        _inline.active = False


_inline = threading.local()


def bump_generation(kb_id: int) -> None:
    """Marks the knowledge base's chunks changed (vector caches reload); inside the writer's
    transaction."""
    # A random token, not a counter: a recreated database (or a reused id) can never bring back
    # a generation some process cached for other chunks.
    token = secrets.randbits(62)
    if not KnowledgeBaseState.objects.filter(kb_id=kb_id).update(generation=token):
        KnowledgeBaseState.objects.update_or_create(kb_id=kb_id, defaults={"generation": token})


def _push(doc: KnowledgeDocument) -> None:
    try:
        emit_sync(protocol.DOCUMENT_STATUS, protocol.document_status(doc), room=user_room(doc.user_id))
    except Exception:  # progress is a courtesy: never fail indexing on it
        logger.warning("could not push the status of document %s", doc.pk, exc_info=True)


def _progress(doc: KnowledgeDocument, generation: int, status: str, percent: int) -> bool:
    """Saves the progress if this run is still current; False when superseded or deleted."""
    updated = KnowledgeDocument.objects.filter(pk=doc.pk, index_generation=generation).update(
        index_status=status, index_progress=percent
    )
    if updated:
        doc.index_status, doc.index_progress = status, percent
        _push(doc)
    return bool(updated)


def document_text(doc: KnowledgeDocument) -> str:
    """The document's full text: the attachment's file read again by the attachment parser with
    the knowledge limit, or the text the content route stored."""
    context = SubtaskContext.objects.filter(pk=doc.attachment_id).first() if doc.attachment_id else None
    if context is None:
        raise IndexFailure("The document's file is missing")
    data = context.type_data if isinstance(context.type_data, dict) else {}
    if data.get(TEXT_EDITED) or not context.storage_key:
        return context.extracted_text
    try:
        with storage.open_file(context.storage_key) as file:
            parsed = parser.parse_upload(
                context.name or f"file.{doc.file_extension}",
                file,
                max_text_length=settings.KNOWLEDGE_MAX_DOCUMENT_CHARS,
            )
    except parser.ParseFailure as exc:
        raise IndexFailure(exc.message) from None
    except (OSError, ValueError):
        raise IndexFailure("The document's file is missing") from None
    if parsed.is_image:
        raise IndexFailure("Images have no text to index")
    return parsed.text


def _embedder(kb: Kind) -> tuple[Any, str] | None:
    view = specs.KnowledgeBaseView.of(kb.spec).retrieval()
    if not view.embedding_model:
        return None
    row = selectors.model_row(kb.owner, view.embedding_model, view.embedding_namespace)
    if row is None:
        raise IndexFailure(f"Embedding model '{view.embedding_model}' not found")
    return connection_for(
        row, timeout=settings.KNOWLEDGE_MODEL_TIMEOUT
    ), kb.owner.user_name if kb.owner else ""


def _embed_all(doc: KnowledgeDocument, generation: int, kb: Kind, texts: list[str]) -> list[bytes | None]:
    embedder = _embedder(kb)
    if embedder is None:
        return [None] * len(texts)  # keyword search only
    conn, user_name = embedder
    batch = max(1, settings.KNOWLEDGE_EMBED_BATCH)
    out: list[bytes | None] = []
    for start in range(0, len(texts), batch):
        try:
            vectors = embeddings.call_sync(
                embeddings.embed, conn, texts[start : start + batch], user_name=user_name
            )
        except embeddings.EmbeddingError as exc:
            raise IndexFailure(exc.message) from None
        out.extend(embeddings.pack(v) for v in vectors)
        done = min(start + batch, len(texts))
        if not _progress(doc, generation, KnowledgeDocument.INDEXING, 20 + 70 * done // len(texts)):
            raise _Superseded()
    return out


def _sentence_embedder(kb: Kind) -> splitters.Embed | None:
    """What the ``semantic`` splitter embeds its sentence windows with (None: no model)."""
    embedder = _embedder(kb)
    if embedder is None:
        return None
    conn, user_name = embedder
    batch = max(1, settings.KNOWLEDGE_EMBED_BATCH)

    def embed(texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), batch):
            try:
                out.extend(
                    embeddings.call_sync(
                        embeddings.embed, conn, texts[start : start + batch], user_name=user_name
                    )
                )
            except embeddings.EmbeddingError as exc:
                raise IndexFailure(exc.message) from None
        return out

    return embed


class _Superseded(Exception):
    pass


def run(document_id: int, generation: int) -> None:
    doc = selectors.document_row(document_id)
    if doc is None or doc.index_generation != generation:
        return  # deleted, or a newer request will run
    try:
        kb = kind_selectors.row_by_id(selectors.KIND, doc.kind_id)
        if kb is None:
            raise IndexFailure("The knowledge base no longer exists")
        if not _progress(doc, generation, KnowledgeDocument.INDEXING, 5):
            return
        text = document_text(doc)
        if not text.strip():
            raise IndexFailure("The document has no text to index")
        semantic = (doc.splitter_config or {}).get("type") == splitters.SEMANTIC
        embed = _sentence_embedder(kb) if semantic else None
        split = splitters.split(text, doc.splitter_config, doc.file_extension, embed=embed)
        if not split.chunks:
            raise IndexFailure("The document has no text to index")
        if not _progress(doc, generation, KnowledgeDocument.INDEXING, 20):
            return
        contents = [c.content for c in split.chunks]
        vectors = _embed_all(doc, generation, kb, contents)
        try:
            vector_store.write_points(kb, doc.pk, generation, doc.name, contents, vectors)
        except external.StoreError as exc:
            raise IndexFailure(exc.message) from None
        _store(doc, generation, split, vectors, len(text))
    except _Superseded:
        return
    except IndexFailure as exc:
        _fail(doc, generation, exc.message)
    except Exception as exc:
        logger.exception("indexing document %s failed", document_id)
        _fail(doc, generation, f"Indexing failed: {type(exc).__name__}")


def _store(
    doc: KnowledgeDocument, generation: int, split: splitters.Split, vectors: list[bytes | None], length: int
) -> None:
    with transaction.atomic():
        current = KnowledgeDocument.objects.select_for_update().filter(pk=doc.pk).first()
        if current is None or current.index_generation != generation:
            return
        KnowledgeChunk.objects.filter(document=current).delete()
        rows = KnowledgeChunk.objects.bulk_create(
            [
                KnowledgeChunk(
                    document=current,
                    kb_id=current.kind_id,
                    position=i,
                    content=chunk.content,
                    token_count=chunk.token_count,
                    start_position=chunk.start,
                    end_position=chunk.end,
                    embedding=vector,
                )
                for i, (chunk, vector) in enumerate(zip(split.chunks, vectors, strict=True))
            ],
            batch_size=500,
        )
        # The database's vector index (pgvector, sqlite-vec) gets the vectors in this transaction.
        vector_index.store([(r.pk, r.kb_id, current.pk, r.embedding) for r in rows if r.embedding])
        current.index_status, current.index_progress, current.index_error = KnowledgeDocument.READY, 100, ""
        current.status, current.is_active = KnowledgeDocument.ENABLED, True
        current.chunk_count, current.text_length = len(split.chunks), length
        current.indexed_generation = generation
        current.splitter_type, current.splitter_subtype = split.splitter_type, split.splitter_subtype
        current.save()
        bump_generation(current.kind_id)
        kb = kind_selectors.row_by_id(selectors.KIND, current.kind_id)
        if kb is not None:
            summaries.after_indexed(current, kb)
        vector_store.forget_points(kb, current.pk, keep_generation=generation)
    _push(current)


def _fail(doc: KnowledgeDocument, generation: int, message: str) -> None:
    with transaction.atomic():
        current = KnowledgeDocument.objects.select_for_update().filter(pk=doc.pk).first()
        if current is None or current.index_generation != generation:
            return
        KnowledgeChunk.objects.filter(document=current).delete()
        current.index_status, current.index_progress, current.index_error = (
            KnowledgeDocument.FAILED,
            0,
            message,
        )
        current.status, current.is_active, current.chunk_count = KnowledgeDocument.DISABLED, False, 0
        current.save()
        bump_generation(current.kind_id)
        vector_store.forget_points(kind_selectors.row_by_id(selectors.KIND, current.kind_id), current.pk)
    _push(current)
