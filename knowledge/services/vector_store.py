"""Where a knowledge base's vectors live: the database (``knowledge.vectors``, pgvector or exact
search in process) or the Retriever its retrieval config names (``knowledge.external``).

Indexing writes a Retriever's points before the chunks' transaction and cleans up after it
commits; a failed clean-up only leaves points that never answer (see ``knowledge.external``).
"""

from __future__ import annotations

import logging

from django.db import transaction

from kinds.models import Kind
from knowledge import embeddings, external, external_stores, selectors, specs, vectors
from knowledge.models import KnowledgeChunk

logger = logging.getLogger(__name__)


def external_store(kb: Kind) -> external.VectorStore | None:
    """The knowledge base's Retriever store, or None when its vectors live in the database.

    Raises ``external.StoreError`` when the named Retriever is gone or unusable."""
    view = specs.KnowledgeBaseView.of(kb.spec).retrieval()
    if not view.retriever_name:
        return None
    row = (
        selectors.retriever_row(kb.owner, view.retriever_name, view.retriever_namespace) if kb.owner else None
    )
    if row is None:
        raise external.StoreError(f"Retriever '{view.retriever_name}' of this knowledge base not found")
    return external_stores.store_for(external.config_of(row), kb.pk, kb.owner_id or 0)


def write_points(
    kb: Kind, document_id: int, generation: int, name: str, contents: list[str], blobs: list[bytes | None]
) -> None:
    """Stores a run's vectors in the knowledge base's Retriever (nothing for database stores)."""
    store = external_store(kb)
    if store is None:
        return
    points = [
        external.Point(position, list(embeddings.unpack(blob)), content)
        for position, (content, blob) in enumerate(zip(contents, blobs, strict=True))
        if blob is not None
    ]
    store.upsert(kb.pk, document_id, generation, name, points)


def forget_points(kb: Kind | None, document_id: int, keep_generation: int | None = None) -> None:
    """After the caller's transaction commits: removes the document's points of other
    generations (all of them without ``keep_generation``). Best effort: what stays never answers."""
    if kb is None:
        return

    def clean() -> None:
        try:
            store = external_store(kb)
            if store is not None:
                store.delete_document(kb.pk, document_id, keep_generation)
        except external.StoreError as exc:
            logger.warning(
                "knowledge: stale vectors of document %s stay in its store: %s", document_id, exc.message
            )

    transaction.on_commit(clean)


def search(kb: Kind, query: list[float], allowed_documents: set[int], limit: int) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the nearest chunks; raises ``external.StoreError``."""
    store = external_store(kb)
    if store is None:
        return vectors.search(kb.pk, query, allowed_documents, limit)
    found = store.search(kb.pk, query, allowed_documents, limit)
    if not found:
        return []
    wanted = {(f.document_id, f.position, f.generation): f for f in found}
    rows = KnowledgeChunk.objects.filter(
        document_id__in={f.document_id for f in found}, position__in={f.position for f in found}
    ).values_list("id", "document_id", "position", "document__indexed_generation")
    best: dict[int, float] = {}
    for chunk_id, doc_id, position, generation in rows:
        hit = wanted.get((doc_id, position, generation))
        if hit is not None:
            best[chunk_id] = max(best.get(chunk_id, -1.0), hit.score)
    return sorted(best.items(), key=lambda item: -item[1])
