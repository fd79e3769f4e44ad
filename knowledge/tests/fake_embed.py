"""A fake embedding, rerank and summary server: real HTTP on a loopback port, OpenAI-compatible
``POST /v1/embeddings``, Cohere/Jina-style ``POST /v1/rerank``, and a non-streaming
``POST /v1/chat/completions`` that summarises: its answer is the JSON
``{"short_summary": "Summary: <first 5 words of the last message>", "long_summary": <its first
200 characters>, "topics": <its 3 most frequent words>}`` (model token ``plain``: the first
5 words as plain text instead of JSON).

Embeddings are deterministic hashed bags of words: each lower-cased word (of three letters or
more, stop words left out) adds +1 or -1 (from its
hash) to one of ``DIM`` buckets, so texts sharing words get similar vectors and the same text
always gets the same vector. Rerank scores are word-overlap ratios.

The requested ``model`` id picks a behaviour (tokens separated by ``-``, any order):

    error-<S>        every request answers HTTP S with a JSON error body
    failafter-<N>    the first N embedding requests succeed, the later ones answer HTTP 500
    hang             the request never answers (a client timeout)
    d<N>             N dimensions (default 256)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DIM = 256
_WORD = re.compile(r"[a-z0-9]+")


# Words that carry no topic: left out so that only what a text is about makes vectors similar.
STOP = frozenset(
    [
        "the",
        "and",
        "are",
        "for",
        "how",
        "long",
        "was",
        "were",
        "with",
        "this",
        "that",
        "from",
        "into",
        "its",
        "has",
        "have",
        "you",
        "our",
    ]
)


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOP]


def embedding(text: str, dim: int = DIM) -> list[float]:
    vector = [0.0] * dim
    for word in words(text):
        digest = hashlib.sha1(word.encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") % dim
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    if not any(vector):
        vector[0] = 1e-6  # an empty or wordless text still gets a valid vector
    return vector


def overlap(query: str, document: str) -> float:
    q, d = set(words(query)), set(words(document))
    return len(q & d) / len(q) if q else 0.0


@dataclass
class Behaviour:
    error: int | None = None
    fail_after: int | None = None
    hang: bool = False
    dim: int = DIM


def parse(model: Any) -> Behaviour:
    b = Behaviour()
    tokens = str(model or "").split("-")
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "error" and nxt.isdigit():
            b.error = int(nxt)
        elif token == "failafter" and nxt.isdigit():
            b.fail_after = int(nxt)
        elif token == "hang":
            b.hang = True
        elif token.startswith("d") and token[1:].isdigit():
            b.dim = int(token[1:])
    return b


class FakeEmbedServer:
    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", 0
        self.embedding_requests: list[dict[str, Any]] = []
        self.rerank_requests: list[dict[str, Any]] = []
        self.chat_requests: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        b = parse(body.get("model"))
        self.embedding_requests.append(body)
        if b.hang:
            await asyncio.sleep(3600)
        if b.error:
            return web.json_response({"error": {"message": f"fake error {b.error}"}}, status=b.error)
        if b.fail_after is not None and len(self.embedding_requests) > b.fail_after:
            return web.json_response({"error": {"message": "fake failure mid-document"}}, status=500)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return web.json_response({"error": {"message": "input must be text"}}, status=400)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding(t, b.dim)} for i, t in enumerate(texts)
        ]
        return web.json_response({"object": "list", "data": data, "model": body.get("model")})

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        b = parse(body.get("model"))
        self.rerank_requests.append(body)
        if b.error:
            return web.json_response({"error": {"message": f"fake error {b.error}"}}, status=b.error)
        docs = body.get("documents") or []
        scores = [(i, overlap(str(body.get("query", "")), str(d))) for i, d in enumerate(docs)]
        scores.sort(key=lambda item: -item[1])
        return web.json_response({"results": [{"index": i, "relevance_score": s} for i, s in scores]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        b = parse(body.get("model"))
        self.chat_requests.append(body)
        if b.error:
            return web.json_response({"error": {"message": f"fake error {b.error}"}}, status=b.error)
        messages = body.get("messages") or [{}]
        text = str(messages[-1].get("content") or "")
        found = words(text)
        counts: dict[str, int] = {}
        for w in found:
            counts[w] = counts.get(w, 0) + 1
        topics = sorted(counts, key=lambda w: (-counts[w], w))[:3]
        summary = {
            "short_summary": "Summary: " + " ".join(found[:5]),
            "long_summary": text[:200],
            "topics": topics,
        }
        content = " ".join(found[:5]) if "plain" in str(body.get("model")) else json.dumps(summary)
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/rerank", self._rerank)
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> FakeEmbedServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-embed", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake embedding server did not start")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        runner = self._runner
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeEmbedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
