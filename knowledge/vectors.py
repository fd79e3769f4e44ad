"""Exact nearest-neighbour search over a knowledge base's chunk vectors, in this process.

Why not ``sqlite-vec``: this machine's Python ``sqlite3`` module is built without loadable
extensions (``Connection.enable_load_extension`` is missing), so no SQLite extension can be
loaded into Django's connections; and this PostgreSQL has no ``pgvector``. Vectors are stored
with their chunks (``KnowledgeChunk.embedding``, float32) on every database, and a query scores
them exactly (cosine = dot product of unit vectors) against a per-process cache of each
knowledge base's matrix. The cache is keyed by the knowledge base's ``generation``, which every
chunk write bumps in its transaction, so a stale matrix is never used.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from dataclasses import dataclass

from knowledge.embeddings import unpack
from knowledge.models import KnowledgeBaseState, KnowledgeChunk


@dataclass(frozen=True)
class _Matrix:
    generation: int
    chunk_ids: list[int]
    document_ids: list[int]
    vectors: list[array]


_cache: dict[int, _Matrix] = {}
_lock = threading.Lock()
MAX_CACHED_KBS = 64


def _generation(kb_id: int) -> int:
    state = KnowledgeBaseState.objects.filter(kb_id=kb_id).values_list("generation", flat=True).first()
    return state or 0


def _matrix(kb_id: int) -> _Matrix:
    generation = _generation(kb_id)
    cached = _cache.get(kb_id)
    if cached is not None and cached.generation == generation:
        return cached
    rows = KnowledgeChunk.objects.filter(kb_id=kb_id, embedding__isnull=False).values_list(
        "id", "document_id", "embedding"
    )
    ids, docs, vectors = [], [], []
    for chunk_id, doc_id, blob in rows.iterator(chunk_size=2000):
        ids.append(chunk_id)
        docs.append(doc_id)
        vectors.append(unpack(blob))
    matrix = _Matrix(generation, ids, docs, vectors)
    with _lock:
        if len(_cache) >= MAX_CACHED_KBS:
            _cache.pop(next(iter(_cache)))
        _cache[kb_id] = matrix
    return matrix


def search(
    kb_id: int, query: list[float], allowed_documents: set[int], limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the ``limit`` nearest chunks of allowed documents."""
    matrix = _matrix(kb_id)
    q = array("f", query)
    dims = len(q)
    scored = (
        (sum(a * b for a, b in zip(q, vector, strict=False)), chunk_id)
        for chunk_id, doc_id, vector in zip(
            matrix.chunk_ids, matrix.document_ids, matrix.vectors, strict=True
        )
        if doc_id in allowed_documents and len(vector) == dims
    )
    return [(chunk_id, score) for score, chunk_id in heapq.nlargest(limit, scored)]
