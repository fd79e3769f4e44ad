"""A KnowledgeBase Kind's spec (reference extras §1.1): read tolerantly, written in one shape.

Stored keys are the reference's camelCase spec fields; the REST shapes use snake_case and are
built in ``knowledge.shapes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOTEBOOK, CLASSIC = "notebook", "classic"
KB_TYPES = (NOTEBOOK, CLASSIC)
NOTEBOOK_MAX_DOCUMENTS = 50
VECTOR, KEYWORD, HYBRID = "vector", "keyword", "hybrid"
MODES = (VECTOR, KEYWORD, HYBRID)
DEFAULT_TOP_K = 5
DEFAULT_THRESHOLD = 0.7
DEFAULT_MAX_CALLS, DEFAULT_EXEMPT_CALLS = 10, 5
# What may change after creation: the stored vectors depend on the retriever and the model.
MUTABLE_RETRIEVAL_KEYS = ("retrieval_mode", "top_k", "score_threshold", "hybrid_weights")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class RetrievalSettings:
    mode: str
    top_k: int
    score_threshold: float
    vector_weight: float | None  # None: reciprocal rank fusion for hybrid
    keyword_weight: float | None
    embedding_model: str | None
    embedding_namespace: str
    retriever_name: str | None
    rerank_model: str | None
    retriever_namespace: str = "default"


@dataclass(frozen=True)
class KnowledgeBaseView:
    name: str
    description: str
    kb_type: str
    retrieval_config: dict[str, Any] | None
    summary_enabled: bool
    summary_model_ref: dict[str, Any] | None
    summary: dict[str, Any] | None
    max_calls: int
    exempt_calls: int

    @classmethod
    def of(cls, spec: Any) -> KnowledgeBaseView:
        spec = _dict(spec)
        max_calls = _int(spec.get("maxCallsPerConversation"), DEFAULT_MAX_CALLS)
        exempt = _int(spec.get("exemptCallsBeforeCheck"), DEFAULT_EXEMPT_CALLS)
        if not (2 <= max_calls <= 50 and 1 <= exempt < max_calls):
            max_calls, exempt = DEFAULT_MAX_CALLS, DEFAULT_EXEMPT_CALLS  # the reference's fallback
        retrieval = spec.get("retrievalConfig")
        kb_type = spec.get("kbType")
        return cls(
            name=str(spec.get("name") or ""),
            description=str(spec.get("description") or ""),
            kb_type=kb_type if kb_type in KB_TYPES else NOTEBOOK,
            retrieval_config=retrieval if isinstance(retrieval, dict) else None,
            summary_enabled=spec.get("summaryEnabled") is True,
            summary_model_ref=spec.get("summaryModelRef")
            if isinstance(spec.get("summaryModelRef"), dict)
            else None,
            summary=spec.get("summary") if isinstance(spec.get("summary"), dict) else None,
            max_calls=max_calls,
            exempt_calls=exempt,
        )

    @property
    def rag_enabled(self) -> bool:
        return self.retrieval_config is not None

    def retrieval(self) -> RetrievalSettings:
        config = _dict(self.retrieval_config)
        embedding = _dict(config.get("embedding_config"))
        weights = config.get("hybrid_weights")
        weights = weights if isinstance(weights, dict) else None
        mode = config.get("retrieval_mode")
        threshold = config.get("score_threshold")
        rerank = _dict(config.get("rerank_config"))
        return RetrievalSettings(
            mode=mode if mode in MODES else VECTOR,
            top_k=min(max(_int(config.get("top_k"), DEFAULT_TOP_K), 1), 10),
            score_threshold=float(threshold) if isinstance(threshold, (int, float)) else DEFAULT_THRESHOLD,
            vector_weight=float(weights["vector_weight"]) if weights else None,
            keyword_weight=float(weights["keyword_weight"]) if weights else None,
            embedding_model=embedding.get("model_name") or None,
            embedding_namespace=str(embedding.get("model_namespace") or "default"),
            retriever_name=config.get("retriever_name") or None,
            rerank_model=rerank.get("model_name") or None,
            retriever_namespace=str(config.get("retriever_namespace") or "default"),
        )
