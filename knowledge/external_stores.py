"""The Qdrant and Elasticsearch stores behind ``knowledge.external`` (one class each), and
``store_for``, which picks one for a Retriever."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx2

from knowledge import embeddings
from knowledge.external import (
    ELASTICSEARCH,
    QDRANT,
    Found,
    Point,
    StoreConfig,
    StoreError,
    VectorStore,
    found_of,
    index_name,
    payload,
    point_id,
)
from wegent.outbound import OutboundRefused, acheck_url, check_url

TIMEOUT_SECONDS = 30.0

# ---------------------------------------------------------------------------------------- Qdrant

_qdrant_clients: dict[tuple[str, str | None], Any] = {}
_qdrant_lock = threading.Lock()


def qdrant_client_for(config: StoreConfig) -> Any:
    """One ``QdrantClient`` per (url, key) and process; the URL passes the SSRF guard first."""
    from qdrant_client import QdrantClient

    try:
        check_url(config.url)
    except OutboundRefused as exc:
        raise StoreError(f"Retriever '{config.name}' cannot be used: {exc.detail}") from None
    key = (config.url, config.api_key)
    with _qdrant_lock:
        if key not in _qdrant_clients:
            _qdrant_clients[key] = QdrantClient(
                url=config.url,
                api_key=config.api_key,
                timeout=int(TIMEOUT_SECONDS),
                prefer_grpc=False,
                check_compatibility=False,
            )
        return _qdrant_clients[key]


class QdrantStore:
    def __init__(self, config: StoreConfig, collection: str) -> None:
        self.config, self.collection = config, collection

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - network, HTTP or validation errors of the client
            raise StoreError(f"Retriever '{self.config.name}' (qdrant) failed to {what}: {exc}") from None

    def _client(self) -> Any:
        return qdrant_client_for(self.config)

    def _ensure(self, dims: int) -> None:
        from qdrant_client import models

        client = self._client()
        if not self._call("read the collection", client.collection_exists, self.collection):
            distance = str(self.config.ext.get("distance") or "Cosine")
            if distance not in ("Cosine", "Euclid", "Dot"):
                raise StoreError(f"Retriever '{self.config.name}': unknown distance '{distance}'")
            params = models.VectorParams(size=dims, distance=models.Distance(distance))
            self._call(
                "create the collection", client.create_collection, self.collection, vectors_config=params
            )
            for key in ("knowledge_id", "doc_ref"):
                self._call(
                    "index the payload",
                    client.create_payload_index,
                    self.collection,
                    field_name=key,
                    field_schema=models.PayloadSchemaType.KEYWORD,
                )
            return
        info = self._call("read the collection", client.get_collection, self.collection)
        size = getattr(info.config.params.vectors, "size", None)
        if size is not None and size != dims:
            raise StoreError(
                f"Retriever '{self.config.name}': collection '{self.collection}' holds vectors of "
                f"{size} dimensions, the embedding model gives {dims}"
            )

    def upsert(self, kb_id: int, document_id: int, generation: int, name: str, points: list[Point]) -> None:
        from qdrant_client import models

        if not points:
            return
        self._ensure(len(points[0].vector))
        structs = [
            models.PointStruct(
                id=point_id(kb_id, document_id, generation, p.position),
                vector=p.vector,
                payload=payload(kb_id, document_id, generation, name, p),
            )
            for p in points
        ]
        self._call("store vectors", self._client().upsert, self.collection, points=structs, wait=True)

    def delete_document(self, kb_id: int, document_id: int, keep_generation: int | None = None) -> None:
        from qdrant_client import models

        client = self._client()
        if not self._call("read the collection", client.collection_exists, self.collection):
            return
        selector = models.Filter(
            must=[
                models.FieldCondition(key="knowledge_id", match=models.MatchValue(value=str(kb_id))),
                models.FieldCondition(key="doc_ref", match=models.MatchValue(value=str(document_id))),
            ],
            must_not=(
                [models.FieldCondition(key="generation", match=models.MatchValue(value=keep_generation))]
                if keep_generation is not None
                else None
            ),
        )
        self._call(
            "delete vectors",
            client.delete,
            self.collection,
            points_selector=models.FilterSelector(filter=selector),
        )

    def search(self, kb_id: int, vector: list[float], documents: set[int], limit: int) -> list[Found]:
        from qdrant_client import models

        client = self._client()
        if not documents or not self._call("read the collection", client.collection_exists, self.collection):
            return []
        query_filter = models.Filter(
            must=[
                models.FieldCondition(key="knowledge_id", match=models.MatchValue(value=str(kb_id))),
                models.FieldCondition(key="doc_ref", match=models.MatchAny(any=[str(d) for d in documents])),
            ]
        )
        result = self._call(
            "search",
            client.query_points,
            self.collection,
            query=vector,
            query_filter=query_filter,
            limit=limit,
            with_payload=True,
        )
        found = (found_of(p.payload or {}, p.score) for p in result.points)
        return [f for f in found if f is not None]


# --------------------------------------------------------------------------------- Elasticsearch


class ElasticsearchStore:
    """Elasticsearch 8+ over its REST API: ``dense_vector`` (cosine) and approximate ``knn``."""

    def __init__(self, config: StoreConfig, index: str) -> None:
        self.config, self.index = config, index
        self.base = config.url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"ApiKey {self.config.api_key}"
        return headers

    def _auth(self) -> httpx2.BasicAuth | None:
        return (
            httpx2.BasicAuth(self.config.username, self.config.password or "")
            if self.config.username
            else None
        )

    async def _send(self, method: str, path: str, body: Any, content_type: str | None) -> httpx2.Response:
        url = f"{self.base}/{path.lstrip('/')}"
        await acheck_url(url)
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        return await embeddings.runner.client().request(
            method, url, content=data, headers=headers, auth=self._auth(), timeout=TIMEOUT_SECONDS
        )

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok: tuple[int, ...] = (),
        ndjson: bool = False,
    ) -> Any:
        content_type = "application/x-ndjson" if ndjson else None
        try:
            response = embeddings.runner.run(self._send(method, path, body, content_type))
        except OutboundRefused as exc:
            raise StoreError(f"Retriever '{self.config.name}' cannot be used: {exc.detail}") from None
        except Exception as exc:  # noqa: BLE001 - unreachable, timeout, malformed URL
            raise StoreError(
                f"Retriever '{self.config.name}' (elasticsearch) cannot be reached to {what}: "
                f"{exc or type(exc).__name__}"
            ) from None
        if response.status_code in ok:
            return None
        if response.status_code >= 400:
            raise StoreError(
                f"Retriever '{self.config.name}' (elasticsearch) failed to {what}: "
                f"HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            return None

    def _exists(self) -> bool:
        return self._request("read the index", "GET", f"{self.index}/_mapping", ok=(404,)) is not None

    def _ensure(self, dims: int) -> None:
        if self._exists():
            return
        mapping = {
            "mappings": {
                "properties": {
                    "embedding": {
                        "type": "dense_vector",
                        "dims": dims,
                        "index": True,
                        "similarity": "cosine",
                    },
                    "content": {"type": "text"},
                    "metadata": {
                        "properties": {
                            "knowledge_id": {"type": "keyword"},
                            "doc_ref": {"type": "keyword"},
                            "generation": {"type": "long"},
                            "chunk_index": {"type": "long"},
                            "source_file": {"type": "keyword"},
                        }
                    },
                }
            }
        }
        # 400 resource_already_exists: another worker made it first.
        self._request("create the index", "PUT", self.index, mapping, ok=(400,))

    def upsert(self, kb_id: int, document_id: int, generation: int, name: str, points: list[Point]) -> None:
        if not points:
            return
        self._ensure(len(points[0].vector))
        lines: list[str] = []
        for p in points:
            data = payload(kb_id, document_id, generation, name, p)
            lines.append(
                json.dumps(
                    {
                        "index": {
                            "_index": self.index,
                            "_id": point_id(kb_id, document_id, generation, p.position),
                        }
                    }
                )
            )
            lines.append(
                json.dumps({"embedding": p.vector, "content": data.pop("content"), "metadata": data})
            )
        result = self._request(
            "store vectors", "POST", "_bulk?refresh=true", "\n".join(lines) + "\n", ndjson=True
        )
        if isinstance(result, dict) and result.get("errors"):
            first = next((i for i in result.get("items", []) if i.get("index", {}).get("error")), {})
            raise StoreError(f"Retriever '{self.config.name}' (elasticsearch) refused vectors: {first}")

    def _filter(self, kb_id: int, documents: list[str] | None = None) -> list[dict[str, Any]]:
        terms: list[dict[str, Any]] = [{"term": {"metadata.knowledge_id": str(kb_id)}}]
        if documents is not None:
            terms.append({"terms": {"metadata.doc_ref": documents}})
        return terms

    def delete_document(self, kb_id: int, document_id: int, keep_generation: int | None = None) -> None:
        query: dict[str, Any] = {"bool": {"filter": self._filter(kb_id, [str(document_id)])}}
        if keep_generation is not None:
            query["bool"]["must_not"] = [{"term": {"metadata.generation": keep_generation}}]
        self._request(
            "delete vectors",
            "POST",
            f"{self.index}/_delete_by_query?refresh=true",
            {"query": query},
            ok=(404,),
        )

    def search(self, kb_id: int, vector: list[float], documents: set[int], limit: int) -> list[Found]:
        if not documents:
            return []
        body = {
            "knn": {
                "field": "embedding",
                "query_vector": vector,
                "k": limit,
                "num_candidates": max(100, limit * 2),
                "filter": {"bool": {"filter": self._filter(kb_id, [str(d) for d in documents])}},
            },
            "size": limit,
            "_source": ["metadata"],
        }
        result = self._request("search", "POST", f"{self.index}/_search", body, ok=(404,))
        hits = (result or {}).get("hits", {}).get("hits", [])
        # Elasticsearch scores cosine as (1 + cosine) / 2; the other stores give the cosine itself.
        found = (
            found_of((h.get("_source") or {}).get("metadata") or {}, 2 * float(h.get("_score", 0)) - 1)
            for h in hits
        )
        return [f for f in found if f is not None]


STORES: dict[str, type[QdrantStore] | type[ElasticsearchStore]] = {
    QDRANT: QdrantStore,
    ELASTICSEARCH: ElasticsearchStore,
}


def store_for(config: StoreConfig, kb_id: int, owner_id: int) -> VectorStore:
    """The store of a Retriever's type, on the knowledge base's index or collection."""
    store = STORES.get(config.type)
    if store is None:
        raise StoreError(f"Retriever '{config.name}': unsupported storage type '{config.type}'")
    return store(config, index_name(config, kb_id, owner_id))
