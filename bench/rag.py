"""RAG benchmark: index 1,000 documents (about 5 MB of text) with fake embeddings, then time 200
queries in each retrieval mode.

Runs in one process against a fresh database (a temporary SQLite file by default, or
--database-url, whose database is used as is: point it at an empty one), with the test tree's
loopback embedding server (knowledge/tests/fake_embed.py: hashed bags of words, 256 dimensions).
Documents are uploaded as attachments and indexed one after another by the same code the Celery
task runs (knowledge.services.indexing), so the report says where indexing time goes: reading
and parsing the file, splitting, the embedding requests (HTTP to the loopback server, which
computes the vectors), and storing the chunks (with the keyword index's triggers).

    .venv/bin/python bench/rag.py [--docs 1000] [--queries 200] [--chunk-size 512] [--database-url ...]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(database_url: str | None) -> None:
    os.environ.setdefault("WEGENT_SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["WEGENT_DATA_DIR"] = tempfile.mkdtemp(prefix="wegent-rag-bench-")
    os.environ["WEGENT_OUTBOUND_ALLOWLIST"] = "127.0.0.1"
    os.environ["WEGENT_LOG_LEVEL"] = "WARNING"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def corpus(count: int, seed: int = 7) -> list[tuple[str, str, list[str]]]:
    """(file name, text, the document's topic words): ~5 KB of text each."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "ri", "do", "fe", "gu"]
    vocab = list(dict.fromkeys("".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(8000)))
    docs = []
    for i in range(count):
        topic = rng.sample(vocab, 6)
        paragraphs = []
        while sum(len(p) for p in paragraphs) < 5000:
            words = rng.choices(vocab, k=rng.randint(30, 60)) + rng.choices(topic, k=4)
            rng.shuffle(words)
            paragraphs.append(" ".join(words).capitalize() + ".")
        docs.append((f"doc{i:04d}.txt", "\n\n".join(paragraphs), topic))
    return docs


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        timers = self
        if hasattr(original, "__code__") and original.__code__.co_flags & 0x80:  # a coroutine function

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timers.seconds[label] += time.perf_counter() - start

            setattr(owner, name, timed_async)
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.seconds[label] += time.perf_counter() - start

        setattr(owner, name, timed)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    setup(args.database_url)

    from django.db import connection

    from accounts.models import User
    from kinds.tests.factories import make_kind, model_doc
    from knowledge import embeddings, splitters, vectors
    from knowledge.models import KnowledgeChunk
    from knowledge.services import bases, documents, indexing, retrieval
    from knowledge.tests.fake_embed import FakeEmbedServer
    from tasks.services.attachments import upload_attachment

    indexing.queue_with(lambda *_: None)  # the bench indexes inline, one document at a time
    timers = Timers()
    timers.wrap(indexing, "document_text", "read + parse the file")
    timers.wrap(splitters, "split", "split into chunks")
    timers.wrap(embeddings, "embed", "embedding requests (HTTP, fake model)")
    timers.wrap(indexing, "_store", "store chunks + keyword index")

    with FakeEmbedServer() as server:
        user = User.objects.create_user(f"bench{secrets.token_hex(3)}", password=secrets.token_urlsafe(12))
        make_kind(
            user,
            model_doc("embedder", model_id="fake-embed", base_url=server.base_url, modelType="embedding"),
        )
        config = {"embedding_config": {"model_name": "embedder", "model_namespace": "default"}, "top_k": 5}
        kb = bases.create(
            actor=user,
            data=bases.KnowledgeBaseInput(name="Bench", kb_type="classic", retrieval_config=config),
        )
        docs = corpus(args.docs)
        total_bytes = sum(len(text.encode()) for _, text, _ in docs)
        import io

        uploaded = []
        start = time.perf_counter()
        for name, text, _ in docs:
            data = text.encode()
            attachment = upload_attachment(actor=user, filename=name, file=io.BytesIO(data), size=len(data))
            doc = documents.create(
                actor=user,
                kb_id=kb.pk,
                data=documents.DocumentInput(
                    name=name,
                    attachment_id=attachment.pk,
                    file_extension="txt",
                    file_size=len(data),
                    splitter_config={"type": "sentence", "chunk_size": args.chunk_size, "chunk_overlap": 0},
                ),
            )
            uploaded.append(doc.pk)
        upload_seconds = time.perf_counter() - start
        start = time.perf_counter()
        failed = 0
        for doc_id in uploaded:
            doc = indexing.reindex_now(doc_id)
            failed += doc is None or doc.index_status != "ready"
        index_seconds = time.perf_counter() - start
        chunks = KnowledgeChunk.objects.filter(kb_id=kb.pk).count()

        index = vectors.database_store()
        store = getattr(index, "__name__", "in-process exact search").rsplit(".", 1)[-1]
        print(
            f"database: {connection.vendor}, vector store: {store}; {len(docs)} documents, "
            f"{total_bytes / 1e6:.1f} MB, {chunks} chunks"
        )
        print(f"upload (attachment parse + document rows): {upload_seconds:.1f}s")
        print(
            f"indexing: {index_seconds:.1f}s, {len(docs) / index_seconds:.1f} documents/s, "
            f"{total_bytes / 1e6 / index_seconds:.2f} MB/s, {failed} failed"
        )
        accounted = sum(timers.seconds.values())
        for label, seconds in sorted(timers.seconds.items(), key=lambda item: -item[1]):
            print(f"  {label:42s} {seconds:7.2f}s  {100 * seconds / index_seconds:5.1f}%")
        print(f"  {'other (status updates, progress, queries)':42s} {index_seconds - accounted:7.2f}s")

        rng = random.Random(11)
        for mode in ("vector", "keyword", "hybrid"):
            latencies = []
            hits_found = 0
            for _ in range(args.queries):
                name, text, topic = docs[rng.randrange(len(docs))]
                query = " ".join(rng.sample(topic, 3))
                q = retrieval.Query(text=query, mode=mode, top_k=5, score_threshold=0.0)
                start = time.perf_counter()
                hits = retrieval.search(kb, q, user_name=user.user_name)
                latencies.append((time.perf_counter() - start) * 1000)
                hits_found += any(h.document_name == name for h in hits)
            print(
                f"{mode:8s} p50 {statistics.median(latencies):6.2f} ms  "
                f"p99 {percentile(latencies, 0.99):6.2f} ms  "
                f"(the queried document in the top 5: {hits_found}/{args.queries})"
            )


if __name__ == "__main__":
    main()
