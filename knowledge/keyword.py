"""Keyword search of chunk text in the database's own full-text index (the indexes are made by
migration ``0002_keyword_index``): SQLite FTS5 (BM25), PostgreSQL ``ts_rank`` over
``to_tsvector('simple', ...)``, MySQL/MariaDB ``MATCH ... AGAINST``.

The query is reduced to its words (letters and digits) and any word may match, so user input can
never be read as the index's query syntax. Scores are "higher is better" and normalised by the
best one (the reference divides BM25 scores by the maximum)."""

from __future__ import annotations

import re

from django.db import connection

from knowledge.models import KnowledgeChunk

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 32
TABLE = KnowledgeChunk._meta.db_table


def words(query: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))[:MAX_WORDS]


def _placeholders(values: list[int]) -> str:
    return ", ".join(["%s"] * len(values))


def search(kb_ids: list[int], query: str, allowed_documents: set[int], limit: int) -> list[tuple[int, float]]:
    """(chunk id, score in 0..1) of the best ``limit`` keyword matches."""
    terms = words(query)
    if not terms or not kb_ids or not allowed_documents:
        return []
    docs = sorted(allowed_documents)
    vendor = connection.vendor
    if vendor == "sqlite":
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = (
            # CROSS JOIN keeps the FTS scan outside: SQLite 3.51's planner otherwise walks the
            # chunks by (kb_id, document_id) and runs the MATCH once per chunk (~40x slower).
            f"SELECT c.id, -bm25(knowledge_chunk_fts) AS score FROM knowledge_chunk_fts "
            f"CROSS JOIN {TABLE} c ON c.id = knowledge_chunk_fts.rowid "
            f"WHERE knowledge_chunk_fts MATCH %s AND c.kb_id IN ({_placeholders(kb_ids)}) "
            f"AND c.document_id IN ({_placeholders(docs)}) ORDER BY score DESC LIMIT %s"
        )
        params: list[object] = [match, *kb_ids, *docs, limit]
    elif vendor == "postgresql":
        sql = (
            f"SELECT id, ts_rank(to_tsvector('simple', content), q) AS score "
            f"FROM {TABLE}, to_tsquery('simple', %s) q "
            f"WHERE to_tsvector('simple', content) @@ q AND kb_id IN ({_placeholders(kb_ids)}) "
            f"AND document_id IN ({_placeholders(docs)}) ORDER BY score DESC LIMIT %s"
        )
        tsquery = " | ".join("'" + t.replace("'", "''").replace("\\", "") + "'" for t in terms)
        params = [tsquery, *kb_ids, *docs, limit]
    elif vendor == "mysql":
        sql = (
            f"SELECT id, MATCH(content) AGAINST (%s IN NATURAL LANGUAGE MODE) AS score FROM {TABLE} "
            "WHERE MATCH(content) AGAINST (%s IN NATURAL LANGUAGE MODE) "
            f"AND kb_id IN ({_placeholders(kb_ids)}) "
            f"AND document_id IN ({_placeholders(docs)}) ORDER BY score DESC LIMIT %s"
        )
        text = " ".join(terms)
        params = [text, text, *kb_ids, *docs, limit]
    else:  # another database: a substring match, scored by how many words hit
        return _fallback(kb_ids, terms, docs, limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(int(chunk_id), float(score)) for chunk_id, score in cursor.fetchall()]
    best = max((score for _, score in rows), default=0.0)
    return [(chunk_id, score / best if best > 0 else 0.0) for chunk_id, score in rows if score > 0]


def _fallback(kb_ids: list[int], terms: list[str], docs: list[int], limit: int) -> list[tuple[int, float]]:
    rows = KnowledgeChunk.objects.filter(kb_id__in=kb_ids, document_id__in=docs).values_list("id", "content")
    scored = []
    for chunk_id, content in rows:
        lowered = content.lower()
        hits = sum(1 for t in terms if t in lowered)
        if hits:
            scored.append((chunk_id, hits / len(terms)))
    scored.sort(key=lambda item: -item[1])
    return scored[:limit]
