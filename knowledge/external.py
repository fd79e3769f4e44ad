"""Retriever kinds as vector stores (reference extras §1.6-§1.7): Qdrant and Elasticsearch.

A knowledge base whose retrieval config names a Retriever keeps its vectors in that store; its
chunks, their text and the keyword index stay in the database as for every knowledge base, so
keyword search, citations and chunk reads work the same way.

Consistency with the database, which stays the source of truth:
- a run writes its points before the chunks' transaction, tagged with the document's index
  generation, and deletes the document's other generations after it commits;
- a search maps each point to the chunk at (document, position) only while the document is
  still at the point's generation, so points left behind by a crash, a failed clean-up or a
  deleted document never answer; ``manage.py knowledge_vectors`` is not needed for them.

Index names follow the reference (``indexStrategy``: fixed, rolling, per_dataset, per_user;
prefix ``wegent``; the infix is ``collection`` for Qdrant and ``index`` for Elasticsearch);
every point carries ``knowledge_id`` and ``doc_ref`` as the reference's metadata does.

Qdrant goes through ``qdrant-client``; Elasticsearch through its REST API (``_bulk``, ``knn``
search, ``_delete_by_query``) on the outbound-guarded HTTP client. Both URLs pass the SSRF guard.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from kinds import secrets
from kinds.models import Kind

QDRANT, ELASTICSEARCH = "qdrant", "elasticsearch"
DEFAULT_PREFIX = "wegent"
POINT_NAMESPACE = uuid.UUID("5b0d7c1e-6a0b-4f43-9b0f-2f0e4c6d8a11")


class StoreError(Exception):
    """The store refused or could not be reached; ``message`` is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StoreConfig:
    name: str
    type: str
    url: str
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    index_strategy: dict[str, Any] = field(default_factory=dict)
    ext: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    position: int
    vector: list[float]
    content: str


@dataclass(frozen=True)
class Found:
    document_id: int
    generation: int
    position: int
    score: float


class VectorStore(Protocol):
    def upsert(
        self, kb_id: int, document_id: int, generation: int, name: str, points: list[Point]
    ) -> None: ...

    def delete_document(self, kb_id: int, document_id: int, keep_generation: int | None = None) -> None: ...

    def search(self, kb_id: int, vector: list[float], documents: set[int], limit: int) -> list[Found]: ...


def config_of(retriever: Kind) -> StoreConfig:
    """The Retriever's storage settings with its secrets in clear (server-side only)."""
    spec = secrets.revealed("Retriever", {"spec": retriever.spec}).get("spec") or {}
    storage = spec.get("storageConfig") if isinstance(spec.get("storageConfig"), dict) else {}
    strategy = storage.get("indexStrategy")
    ext = storage.get("ext")
    return StoreConfig(
        name=retriever.name,
        type=str(storage.get("type") or ""),
        url=str(storage.get("url") or ""),
        username=storage.get("username") or None,
        password=storage.get("password") or None,
        api_key=storage.get("apiKey") or None,
        index_strategy=strategy if isinstance(strategy, dict) else {},
        ext=ext if isinstance(ext, dict) else {},
    )


def index_name(config: StoreConfig, kb_id: int, owner_id: int) -> str:
    """The reference's index (Elasticsearch) or collection (Qdrant) name for a knowledge base."""
    strategy = config.index_strategy
    mode = strategy.get("mode") or "per_dataset"
    prefix = strategy.get("prefix") or DEFAULT_PREFIX
    infix = "collection" if config.type == QDRANT else "index"
    if mode == "fixed":
        if not strategy.get("fixedName"):
            raise StoreError(f"Retriever '{config.name}': indexStrategy 'fixed' needs fixedName")
        return str(strategy["fixedName"])
    if mode == "rolling":
        step = int(strategy.get("rollingStep") or 10)
        return f"{prefix}_{infix}_{((kb_id - 1) // step) * step}"
    if mode == "per_user":
        return f"{prefix}_user_{owner_id}"
    if mode == "per_dataset":
        return f"{prefix}_kb_{kb_id}"
    raise StoreError(f"Retriever '{config.name}': unknown indexStrategy mode '{mode}'")


def point_id(kb_id: int, document_id: int, generation: int, position: int) -> str:
    """Stable per (document, generation, position): a retried run overwrites, never duplicates."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{kb_id}:{document_id}:{generation}:{position}"))


def payload(kb_id: int, document_id: int, generation: int, name: str, point: Point) -> dict[str, Any]:
    return {
        "knowledge_id": str(kb_id),
        "doc_ref": str(document_id),
        "generation": generation,
        "chunk_index": point.position,
        "source_file": name,
        "content": point.content,
    }


def found_of(data: dict[str, Any], score: float) -> Found | None:
    try:
        return Found(int(data["doc_ref"]), int(data["generation"]), int(data["chunk_index"]), float(score))
    except (KeyError, TypeError, ValueError):
        return None  # a point this server did not write (a shared index): not ours to answer
