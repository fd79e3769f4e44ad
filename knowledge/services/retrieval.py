"""Retrieval from a knowledge base: ``vector``, ``keyword`` and ``hybrid`` modes, ``top_k``,
``score_threshold``, metadata filters and an optional rerank (reference extras §1.7-§1.8).

- vector: the query's embedding (the knowledge base's embedding model) against the stored chunk
  vectors (``knowledge.vectors``), cosine similarity as the score;
- keyword: the database's full-text index (``knowledge.keyword``), scores divided by the best;
- hybrid: reciprocal rank fusion (k = 60) of both lists, scaled so the best hit scores 1; with
  ``hybrid_weights`` the reference's weighted sum of the two scores instead;
- rerank (this server's addition): when the knowledge base names a Model of type ``rerank``,
  its ``/rerank`` scores reorder the candidates and become their scores.

Only enabled, indexed documents answer. Candidates below ``score_threshold`` are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from kinds.connections import connection_for
from kinds.models import Kind
from knowledge import embeddings, external, keyword, selectors, specs, vectors
from knowledge.exceptions import RetrievalUnavailable
from knowledge.models import KnowledgeChunk
from knowledge.services import vector_store

RRF_K = 60
CONDITION_OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "text_match")


@dataclass(frozen=True)
class Query:
    text: str
    mode: str = specs.VECTOR
    top_k: int = specs.DEFAULT_TOP_K
    score_threshold: float = specs.DEFAULT_THRESHOLD
    vector_weight: float | None = None
    keyword_weight: float | None = None
    document_ids: frozenset[int] | None = None
    condition: dict[str, Any] | None = None


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    kb_id: int
    document_id: int
    document_name: str
    position: int
    content: str
    score: float

    def metadata(self) -> dict[str, Any]:
        return {
            "knowledge_id": str(self.kb_id),
            "doc_ref": str(self.document_id),
            "document_id": self.document_id,
            "source_file": self.document_name,
            "chunk_index": self.position,
        }

    def record(self) -> dict[str, Any]:
        """The reference's retrieve record."""
        return {
            "content": self.content,
            "score": self.score,
            "title": self.document_name,
            "metadata": self.metadata(),
        }


def query_for(kb: Kind, text: str, **overrides: Any) -> Query:
    """A query with the knowledge base's own settings (chat uses these)."""
    view = specs.KnowledgeBaseView.of(kb.spec).retrieval()
    values: dict[str, Any] = {
        "mode": view.mode,
        "top_k": view.top_k,
        "score_threshold": view.score_threshold,
        "vector_weight": view.vector_weight,
        "keyword_weight": view.keyword_weight,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Query(text=text, **values)


def _model(kb: Kind, name: str | None, namespace: str, category: str) -> Any:
    if not name:
        return None
    row = selectors.model_row(kb.owner, name, namespace)
    if row is None or selectors.model_category(row) != category:
        raise RetrievalUnavailable(f"The {category} model '{name}' of this knowledge base is not available")
    return connection_for(row, timeout=settings.KNOWLEDGE_MODEL_TIMEOUT)


def _query_vector(kb: Kind, text: str, user_name: str) -> list[float]:
    view = specs.KnowledgeBaseView.of(kb.spec).retrieval()
    conn = _model(kb, view.embedding_model, view.embedding_namespace, "embedding")
    if conn is None:
        raise RetrievalUnavailable(
            "Vector search needs an embedding model and this knowledge base has none: use keyword mode"
        )
    try:
        return embeddings.call_sync(embeddings.embed, conn, [text], user_name=user_name)[0]
    except embeddings.EmbeddingError as exc:
        raise RetrievalUnavailable(exc.message) from None


def _fuse(
    query: Query, by_vector: list[tuple[int, float]], by_keyword: list[tuple[int, float]]
) -> dict[int, float]:
    if query.mode == specs.VECTOR:
        return dict(by_vector)
    if query.mode == specs.KEYWORD:
        return dict(by_keyword)
    if query.vector_weight is not None and query.keyword_weight is not None:
        fused: dict[int, float] = {}
        for chunk_id, score in by_vector:
            fused[chunk_id] = fused.get(chunk_id, 0.0) + query.vector_weight * max(score, 0.0)
        for chunk_id, score in by_keyword:
            fused[chunk_id] = fused.get(chunk_id, 0.0) + query.keyword_weight * score
        return fused
    rrf: dict[int, float] = {}
    for ranked in (by_vector, by_keyword):
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            rrf[chunk_id] = rrf.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    best = max(rrf.values(), default=0.0)
    return {chunk_id: score / best for chunk_id, score in rrf.items()} if best > 0 else rrf


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    try:
        if operator == "eq":
            return str(actual) == str(expected)
        if operator == "ne":
            return str(actual) != str(expected)
        if operator in ("in", "nin"):
            values = {str(v) for v in expected} if isinstance(expected, list) else {str(expected)}
            return (str(actual) in values) == (operator == "in")
        if operator in ("contains", "text_match"):
            return str(expected).lower() in str(actual).lower()
        a, e = float(actual), float(expected)
        return {"gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[operator]
    except (TypeError, ValueError, KeyError):
        return False


def matches(condition: dict[str, Any] | None, metadata: dict[str, Any]) -> bool:
    """``metadata_condition`` (validated by the route: known operators only)."""
    if not condition or not condition.get("conditions"):
        return True
    results = [
        _compare(metadata.get(c["key"]), c["operator"], c.get("value")) for c in condition["conditions"]
    ]
    return any(results) if condition.get("operator") == "or" else all(results)


def _rerank(kb: Kind, query: Query, hits: list[Hit], user_name: str) -> list[Hit]:
    view = specs.KnowledgeBaseView.of(kb.spec).retrieval()
    conn = _model(kb, view.rerank_model, "default", "rerank")
    if conn is None or not hits:
        return hits
    try:
        scores = embeddings.call_sync(
            embeddings.rerank, conn, query.text, [h.content for h in hits], user_name=user_name
        )
    except embeddings.EmbeddingError as exc:
        raise RetrievalUnavailable(exc.message) from None
    reranked = [Hit(**{**h.__dict__, "score": s}) for h, s in zip(hits, scores, strict=True)]
    return sorted(reranked, key=lambda h: -h.score)


def search(kb: Kind, query: Query, *, user_name: str = "") -> list[Hit]:
    """The best ``top_k`` chunks of ``kb`` for ``query`` (the caller checked access to ``kb``)."""
    names = vectors.searchable_documents(kb.pk)
    if query.document_ids is not None:
        names = {doc_id: name for doc_id, name in names.items() if doc_id in query.document_ids}
    if not names or not query.text.strip():
        return []
    allowed = set(names)
    pool = max(query.top_k * 4, 20)
    by_vector = by_keyword = []
    if query.mode in (specs.VECTOR, specs.HYBRID):
        try:
            by_vector = vector_store.search(kb, _query_vector(kb, query.text, user_name), allowed, pool)
        except external.StoreError as exc:
            raise RetrievalUnavailable(exc.message) from None
    if query.mode in (specs.KEYWORD, specs.HYBRID):
        by_keyword = keyword.search([kb.pk], query.text, allowed, pool)
    fused = _fuse(query, by_vector, by_keyword)
    ranked = sorted(fused.items(), key=lambda item: -item[1])
    rows = KnowledgeChunk.objects.in_bulk([chunk_id for chunk_id, _ in ranked])
    hits = []
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None or row.document_id not in allowed:
            continue
        hit = Hit(
            chunk_id,
            kb.pk,
            row.document_id,
            names[row.document_id],
            row.position,
            row.content,
            round(score, 6),
        )
        if matches(query.condition, hit.metadata()):
            hits.append(hit)
    hits = _rerank(kb, query, hits, user_name)
    return [h for h in hits if h.score >= query.score_threshold][: query.top_k]


def search_many(kbs: list[Kind], query: Query, *, user_name: str = "") -> list[Hit]:
    """Every knowledge base's best hits merged by score (chat searches all of a turn's)."""
    hits = [hit for kb in kbs for hit in search(kb, query, user_name=user_name)]
    return sorted(hits, key=lambda h: -h.score)
