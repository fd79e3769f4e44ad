"""Vector search in SQLite with the ``sqlite-vec`` extension, when the connection has it.

The embedded mode's store (``make run``): where Django's SQLite connection loaded sqlite-vec
(``wegent/sqlite/driver.py``: the pysqlite3 driver and the sqlite-vec package), each vector
size has a ``vec0`` virtual table ``knowledge_chunk_vec_<dims>`` (cosine distance, the knowledge
base as its partition key, the document as a metadata column so the KNN scan filters on it),
made the first time a vector of that size is stored. Rows are written in the chunks'
transaction; a trigger per table removes a chunk's row with the chunk (Django's test flush
deletes rows, so it empties these tables too). ``KnowledgeChunk.embedding`` keeps its copy, so
the tables can be rebuilt (``manage.py knowledge_vectors --rebuild``).
"""

from __future__ import annotations

from django.db import connection

CHUNKS = "knowledge_knowledgechunk"
PREFIX = "knowledge_chunk_vec_"
MAX_K = 4096  # sqlite-vec's limit on k


def in_use() -> bool:
    """Whether this connection searches vectors with sqlite-vec."""
    if connection.vendor != "sqlite":
        return False
    connection.ensure_connection()
    return bool(getattr(connection, "has_vec", False))


def _table(dims: int) -> str:
    return f"{PREFIX}{int(dims)}"


def tables(cursor) -> list[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE %s", [PREFIX + "%"])
    return [name for (name,) in cursor.fetchall() if name[len(PREFIX) :].isdigit()]


def _ensure_table(cursor, dims: int) -> None:
    table = _table(dims)
    cursor.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(chunk_id integer primary key, "
        "kb_id integer partition key, document_id integer, "
        f"embedding float[{int(dims)}] distance_metric=cosine)"
    )
    cursor.execute(
        f"CREATE TRIGGER IF NOT EXISTS {table}_ad AFTER DELETE ON {CHUNKS} "
        f"BEGIN DELETE FROM {table} WHERE chunk_id = old.id; END"
    )


def store(rows: list[tuple[int, int, int, bytes]]) -> None:
    """Writes (chunk id, knowledge base id, document id, float32 vector) rows, in the caller's
    transaction."""
    by_size: dict[int, list[tuple[int, int, int, bytes]]] = {}
    for chunk_id, kb_id, doc_id, blob in rows:
        by_size.setdefault(len(blob) // 4, []).append((chunk_id, kb_id, doc_id, bytes(blob)))
    with connection.cursor() as cursor:
        for dims, items in by_size.items():
            _ensure_table(cursor, dims)
            table = _table(dims)
            # vec0 has no upsert: a re-stored chunk is deleted first.
            cursor.executemany(f"DELETE FROM {table} WHERE chunk_id = %s", [(item[0],) for item in items])
            cursor.executemany(
                f"INSERT INTO {table} (chunk_id, kb_id, document_id, embedding) VALUES (%s, %s, %s, %s)",
                items,
            )


def search(
    kb_id: int, query: list[float], allowed_documents: set[int], limit: int
) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity) of the ``limit`` nearest chunks of the allowed documents."""
    if limit <= 0 or not allowed_documents or not query:
        return []
    import numpy as np

    table = _table(len(query))
    documents = sorted(allowed_documents)
    marks = ", ".join(["%s"] * len(documents))
    with connection.cursor() as cursor:
        if table not in tables(cursor):
            return []
        cursor.execute(
            f"SELECT chunk_id, distance FROM {table} WHERE embedding MATCH %s AND k = %s "
            f"AND kb_id = %s AND document_id IN ({marks}) ORDER BY distance",
            [np.asarray(query, dtype="<f4").tobytes(), min(limit, MAX_K), kb_id, *documents],
        )
        return [(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]
