"""Vector search in PostgreSQL with the ``pgvector`` extension, when the server has it.

Where it is used: on PostgreSQL whose database has the ``vector`` extension and this app's
``knowledge_chunk_vector`` table (made by migration ``0003_pgvector`` when the extension can be
created, or later by ``manage.py knowledge_vectors --enable`` once an operator installs it).
Elsewhere ``knowledge.vectors`` searches exactly in this process.

The table holds one row per chunk with a vector: its ``dims`` and the vector itself. Each size of
vector has its own HNSW index (cosine), partial on ``dims``, made the first time a vector of that
size is stored. The rows are written in the transaction that writes the chunks and go with them
(triggers on the chunks' table), so a deleted or re-indexed document never answers.
``KnowledgeChunk.embedding`` keeps its copy, so the table can be rebuilt (``--rebuild``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.db import connection, transaction

TABLE = "knowledge_chunk_vector"
CHUNKS = "knowledge_knowledgechunk"
# Candidates an HNSW scan collects before filtering by knowledge base and document; with
# ``iterative_scan`` (pgvector >= 0.8) the scan goes on until ``limit`` rows pass the filter.
EF_SEARCH = 100

_available: bool | None = None


def extension_installable(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    return cursor.fetchone() is not None


def create_table(cursor) -> None:
    """The extension (if this role may create it), the table and its triggers; idempotent.

    Triggers rather than a foreign key: a chunk's delete removes its vector in the same
    statement, and a TRUNCATE of the chunks (Django's test flush) empties this table too,
    where a foreign key would refuse the TRUNCATE."""
    cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " chunk_id bigint PRIMARY KEY, kb_id bigint NOT NULL, document_id bigint NOT NULL,"
        " dims integer NOT NULL, embedding vector NOT NULL)"
    )
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_kb ON {TABLE} (kb_id, dims)")
    cursor.execute(
        f"CREATE OR REPLACE FUNCTION {TABLE}_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"DELETE FROM {TABLE} WHERE chunk_id IN (SELECT id FROM gone); RETURN NULL; END $$"
    )
    cursor.execute(
        f"CREATE OR REPLACE FUNCTION {TABLE}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"TRUNCATE {TABLE}; RETURN NULL; END $$"
    )
    cursor.execute(
        f"CREATE OR REPLACE TRIGGER {TABLE}_ad AFTER DELETE ON {CHUNKS} REFERENCING OLD TABLE AS gone "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_gone()"
    )
    cursor.execute(
        f"CREATE OR REPLACE TRIGGER {TABLE}_at AFTER TRUNCATE ON {CHUNKS} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_truncate()"
    )


def drop_table(cursor) -> None:
    cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_ad ON {CHUNKS}")
    cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_at ON {CHUNKS}")
    cursor.execute(f"DROP FUNCTION IF EXISTS {TABLE}_gone()")
    cursor.execute(f"DROP FUNCTION IF EXISTS {TABLE}_truncate()")
    cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def in_use() -> bool:
    """Whether this database searches vectors with pgvector (checked once per process)."""
    global _available
    if _available is None:
        if connection.vendor != "postgresql":
            _available = False
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [TABLE])
                _available = bool(cursor.fetchone()[0])
    return _available


def forget() -> None:
    """Re-check on next use (after ``--enable`` or in tests that drop the table)."""
    global _available
    _available = None


def _literal(vector: Iterable[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def _ensure_index(cursor, dims: int) -> None:
    # HNSW indexes only vectors of one declared size, hence one partial index per size.
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_hnsw_{dims} ON {TABLE} "
        f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
    )


def store(rows: list[tuple[int, int, int, bytes]]) -> None:
    """Writes (chunk id, knowledge base id, document id, float32 vector) rows, in the caller's
    transaction."""
    if not rows:
        return
    sizes = {len(blob) // 4 for *_, blob in rows}
    with connection.cursor() as cursor:
        for dims in sizes:
            _ensure_index(cursor, dims)
        cursor.executemany(
            f"INSERT INTO {TABLE} (chunk_id, kb_id, document_id, dims, embedding) "
            "VALUES (%s, %s, %s, %s, %s::vector) ON CONFLICT (chunk_id) DO UPDATE "
            "SET embedding = EXCLUDED.embedding, dims = EXCLUDED.dims",
            [
                (chunk_id, kb_id, doc_id, len(blob) // 4, _literal(np.frombuffer(blob, dtype="<f4")))
                for chunk_id, kb_id, doc_id, blob in rows
            ],
        )


def search(
    kb_id: int, query: list[float], allowed_documents: set[int], limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the ``limit`` nearest chunks of the allowed documents."""
    if limit <= 0 or not allowed_documents or not query:
        return []
    dims = len(query)
    literal = _literal(query)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL lasts until this transaction ends.
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(EF_SEARCH, limit))])
        cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        cursor.execute(
            f"SELECT chunk_id, 1 - ((embedding::vector({dims})) <=> %s::vector({dims})) AS score "
            f"FROM {TABLE} WHERE dims = %s AND kb_id = %s AND document_id = ANY(%s) "
            f"ORDER BY (embedding::vector({dims})) <=> %s::vector({dims}) LIMIT %s",
            [literal, dims, kb_id, sorted(allowed_documents), literal, limit],
        )
        found = [(int(chunk_id), float(score)) for chunk_id, score in cursor.fetchall()]
    # relaxed_order may hand back near-ties slightly out of order.
    return sorted(found, key=lambda item: -item[1])
