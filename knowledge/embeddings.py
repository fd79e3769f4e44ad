"""Embedding and rerank calls to a Model kind of type ``embedding`` / ``rerank`` (reference
extras §1.6; rerank is this server's addition), OpenAI-compatible ``POST {base_url}/embeddings``
and Cohere/Jina-style ``POST {base_url}/rerank``, through the outbound guard
(``wegent/outbound.py``) like every URL the server fetches for users.

Vectors are normalised to unit length here, so cosine similarity is a dot product everywhere.
"""

from __future__ import annotations

import asyncio
import math
import threading
from array import array
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx2
from django.conf import settings

from kinds.connections import ModelConnection
from wegent.outbound import OutboundRefused, acheck_url, guarded_http_client

T = TypeVar("T")


class EmbeddingError(Exception):
    """The model could not give embeddings; ``message`` says why, for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _url(base_url: str | None, suffix: str) -> str:
    base = (base_url or "").rstrip("/")
    return base if base.endswith(suffix) else f"{base}{suffix}"


def _headers(conn: ModelConnection, user_name: str) -> dict[str, str]:
    headers = {k: v.replace("${user.name}", user_name) for k, v in conn.default_headers.items()}
    if conn.api_key:
        headers.setdefault("Authorization", f"Bearer {conn.api_key}")
    return headers


def normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def pack(vector: list[float]) -> bytes:
    return array("f", vector).tobytes()


def unpack(blob: bytes) -> array:
    values = array("f")
    values.frombytes(bytes(blob))
    return values


class _Runner:
    """One event loop thread per process for model calls made from sync code (indexing, REST
    retrieval), with one guarded HTTP client kept open on it: a call then costs neither a new
    thread and loop (``async_to_sync`` made one per call) nor a new connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx2.AsyncClient | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="knowledge-models", daemon=True).start()
                self._loop = loop
            return self._loop

    def client(self) -> httpx2.AsyncClient:
        # Only touched on the runner's loop thread.
        if self._client is None:
            self._client = guarded_http_client(timeout=httpx2.Timeout(settings.KNOWLEDGE_MODEL_TIMEOUT))
        return self._client

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result()


runner = _Runner()


def call_sync(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
    """Runs a model call (``embed``, ``rerank``) from sync code on the shared loop."""
    return runner.run(fn(*args, shared=True, **kwargs))


async def _post(
    conn: ModelConnection, suffix: str, body: dict[str, Any], user_name: str, shared: bool
) -> Any:
    url = _url(conn.base_url, suffix)
    client = runner.client() if shared else guarded_http_client(timeout=httpx2.Timeout(conn.timeout))
    name = conn.model_name or conn.model_id
    try:
        await acheck_url(url)
        response = await client.post(url, json=body, headers=_headers(conn, user_name), timeout=conn.timeout)
    except OutboundRefused as exc:
        raise EmbeddingError(f"Model '{name}' cannot be used: {exc.detail}") from None
    except httpx2.TimeoutException:
        raise EmbeddingError(f"Model '{name}' did not answer in time") from None
    except httpx2.HTTPError as exc:
        raise EmbeddingError(f"Model '{name}' cannot be reached: {exc or type(exc).__name__}") from None
    except Exception as exc:  # noqa: BLE001 - a malformed base URL (httpx2.InvalidURL is no HTTPError)
        raise EmbeddingError(f"Model '{name}' cannot be called: {type(exc).__name__}: {exc}") from None
    finally:
        if not shared:
            await client.aclose()
    if response.status_code >= 400:
        raise EmbeddingError(f"Model '{name}' answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise EmbeddingError(f"Model '{name}' did not answer JSON") from None


async def embed(
    conn: ModelConnection, texts: list[str], *, user_name: str = "", shared: bool = False
) -> list[list[float]]:
    """One vector per text, in order (one request; the caller batches). ``shared``: on the
    runner's loop with its kept-open client (``call_sync``)."""
    data = await _post(conn, "/embeddings", {"model": conn.model_id, "input": texts}, user_name, shared)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != len(texts):
        raise EmbeddingError(f"Model '{conn.model_name}' answered without one embedding per input")
    ordered = sorted(items, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors = []
    for item in ordered:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vector, list) or not vector or not all(isinstance(x, (int, float)) for x in vector):
            raise EmbeddingError(f"Model '{conn.model_name}' answered an invalid embedding")
        vectors.append(normalised([float(x) for x in vector]))
    if len({len(v) for v in vectors}) > 1:
        raise EmbeddingError(f"Model '{conn.model_name}' answered embeddings of different sizes")
    return vectors


async def rerank(
    conn: ModelConnection, query: str, documents: list[str], *, user_name: str = "", shared: bool = False
) -> list[float]:
    """A relevance score per document (0..1 as the API gives it), in the documents' order."""
    body = {"model": conn.model_id, "query": query, "documents": documents, "top_n": len(documents)}
    data = await _post(conn, "/rerank", body, user_name, shared)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise EmbeddingError(f"Model '{conn.model_name}' answered without results")
    scores = [0.0] * len(documents)
    for item in results:
        if (
            isinstance(item, dict)
            and isinstance(item.get("index"), int)
            and 0 <= item["index"] < len(documents)
        ):
            score = item.get("relevance_score", item.get("score", 0.0))
            scores[item["index"]] = float(score) if isinstance(score, (int, float)) else 0.0
    return scores
