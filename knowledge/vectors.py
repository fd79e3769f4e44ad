"""Nearest-neighbour search over a knowledge base's chunk vectors.

The database searches where it can: PostgreSQL with pgvector (``knowledge.pgvector``, HNSW),
SQLite with sqlite-vec (``knowledge.sqlite_vec``; the embedded mode with the pysqlite3 driver).
Everywhere else (MariaDB, PostgreSQL without pgvector, a Python without loadable SQLite
extensions) the search is exact, in this process, as described below. Vectors are stored
with their chunks (``KnowledgeChunk.embedding``, float32) on every database, and a query scores
them exactly (cosine = dot product of unit vectors, one numpy matrix product) against a
per-process cache of each knowledge base's matrix. The cache is keyed by the knowledge base's
``generation``, which every chunk write changes in its transaction, so a stale matrix is never
used.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.db import connection, transaction

from knowledge import pgvector, sqlite_vec
from knowledge.models import KnowledgeBaseState, KnowledgeChunk, KnowledgeDocument

# Each cached knowledge base holds rows x dimensions float32 (10,000 chunks of 256: 10 MB).
MAX_CACHED_KBS = 16


class DatabaseStore(Protocol):
    def store(self, rows: list[tuple[int, int, int, bytes]]) -> None: ...

    def search(
        self, kb_id: int, query: list[float], allowed_documents: set[int], limit: int
    ) -> list[tuple[int, float]]: ...


def database_store() -> DatabaseStore | None:
    """The database's own vector index, or None where the search runs in this process."""
    if pgvector.in_use():
        return pgvector  # type: ignore[return-value]
    if sqlite_vec.in_use():
        return sqlite_vec  # type: ignore[return-value]
    return None


def store(rows: list[tuple[int, int, int, bytes]]) -> None:
    """(chunk id, knowledge base id, document id, float32 vector) rows into the database's index,
    in the caller's transaction (nothing where the search runs in process)."""
    index = database_store()
    if index is not None and rows:
        index.store(rows)


def rebuild(batch: int = 2000) -> int:
    """Refills the database's index from the chunks' stored vectors; returns the rows written.
    Raw SQL, not the model: migrations call it."""
    index = database_store()
    if index is None:
        return 0
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for table in _index_tables(cursor):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            "SELECT id, kb_id, document_id, embedding FROM knowledge_knowledgechunk "
            "WHERE embedding IS NOT NULL ORDER BY id"
        )
        while rows := cursor.fetchmany(batch):
            index.store([(c, k, d, bytes(b)) for c, k, d, b in rows])
            written += len(rows)
    return written


def _index_tables(cursor) -> list[str]:
    if pgvector.in_use():
        return [pgvector.TABLE]
    return sqlite_vec.tables(cursor)


@dataclass(frozen=True)
class _Matrix:
    generation: int
    # The searchable documents (enabled and indexed): id -> name. Status changes and renames
    # change the generation too, so this is as fresh as the vectors.
    documents: dict[int, str]
    chunk_ids: np.ndarray  # int64, one per row
    document_ids: np.ndarray  # int64, one per row
    vectors: np.ndarray  # float32, rows x dimensions (rows of another size are left out)


_cache: dict[int, _Matrix] = {}
_lock = threading.Lock()


def _generation(kb_id: int) -> int:
    state = KnowledgeBaseState.objects.filter(kb_id=kb_id).values_list("generation", flat=True).first()
    return state or 0


def _documents(kb_id: int) -> dict[int, str]:
    rows = KnowledgeDocument.objects.filter(kind_id=kb_id, status=KnowledgeDocument.ENABLED, is_active=True)
    return dict(rows.values_list("id", "name"))


def _load(kb_id: int, generation: int) -> _Matrix:
    documents = _documents(kb_id)
    if database_store() is not None:  # the database searches; only the document names are kept
        empty = np.zeros(0, np.int64)
        return _Matrix(generation, documents, empty, empty, np.zeros((0, 0), np.float32))
    rows = KnowledgeChunk.objects.filter(kb_id=kb_id, embedding__isnull=False).values_list(
        "id", "document_id", "embedding"
    )
    ids: list[int] = []
    docs: list[int] = []
    blobs: list[bytes] = []
    for chunk_id, doc_id, blob in rows.iterator(chunk_size=2000):
        ids.append(chunk_id)
        docs.append(doc_id)
        blobs.append(bytes(blob))
    if not blobs:
        empty = np.zeros(0, np.int64)
        return _Matrix(generation, documents, empty, empty, np.zeros((0, 0), np.float32))
    # One model per knowledge base, so one size; a row of another size (never expected) is dropped.
    size = max({len(b) for b in blobs}, key=[len(b) for b in blobs].count)
    keep = [i for i, b in enumerate(blobs) if len(b) == size]
    matrix = np.frombuffer(b"".join(blobs[i] for i in keep), dtype=np.float32).reshape(len(keep), size // 4)
    return _Matrix(
        generation,
        documents,
        np.array([ids[i] for i in keep], dtype=np.int64),
        np.array([docs[i] for i in keep], dtype=np.int64),
        matrix,
    )


def _matrix(kb_id: int) -> _Matrix:
    generation = _generation(kb_id)
    cached = _cache.get(kb_id)
    if cached is not None and cached.generation == generation:
        return cached
    matrix = _load(kb_id, generation)
    with _lock:
        if kb_id not in _cache and len(_cache) >= MAX_CACHED_KBS:
            _cache.pop(next(iter(_cache)))
        _cache[kb_id] = matrix
    return matrix


def searchable_documents(kb_id: int) -> dict[int, str]:
    """The knowledge base's enabled, indexed documents (id -> name), cached with its vectors."""
    return _matrix(kb_id).documents


def search(
    kb_id: int, query: list[float], allowed_documents: set[int], limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the ``limit`` nearest chunks of allowed documents."""
    store = database_store()
    if store is not None:
        return store.search(kb_id, query, allowed_documents, limit)
    matrix = _matrix(kb_id)
    if not len(matrix.chunk_ids) or matrix.vectors.shape[1] != len(query) or limit <= 0:
        return []
    scores = matrix.vectors @ np.asarray(query, dtype=np.float32)
    mask = np.isin(matrix.document_ids, np.fromiter(allowed_documents, dtype=np.int64))
    candidates = np.flatnonzero(mask)
    if not len(candidates):
        return []
    picked = scores[candidates]
    if len(candidates) > limit:
        top = np.argpartition(-picked, limit - 1)[:limit]
        candidates, picked = candidates[top], picked[top]
    order = np.argsort(-picked, kind="stable")
    return [(int(matrix.chunk_ids[candidates[i]]), float(picked[i])) for i in order]
