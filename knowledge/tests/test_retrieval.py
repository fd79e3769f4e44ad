"""Retrieval through ``/api/rag/retrieve`` and the service: each mode finds the right chunk of real
indexed files (fake deterministic embeddings), with top_k, thresholds, metadata filters, rerank,
and nothing from a disabled document or another user's knowledge base."""

from __future__ import annotations

import pytest

from knowledge.models import KnowledgeChunk
from knowledge.services import retrieval
from knowledge.tests import factories as f
from tasks.tests.test_attachments_parser import make_docx, make_pdf

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/rag/retrieve"
GUIDE = (
    b"# Installation\n\nDownload the installer and run it as administrator.\n\n"
    b"# Backups\n\nBackups run nightly and snapshots are kept for thirty days in cold storage.\n\n"
    b"# Printers\n\nThe office printer needs toner every month; call facilities for toner.\n"
)


@pytest.fixture
def corpus(user, fake_embed):  # type: ignore[no-untyped-def]
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    docs = {
        "guide": f.add_document(user, kb, "guide.md", GUIDE),
        "finance": f.add_document(
            user, kb, "finance.docx", make_docx(["Quarterly revenue grew nine percent."])
        ),
        "zoo": f.add_document(
            user, kb, "zoo.pdf", make_pdf(["Penguins huddle together in antarctic winter"])
        ),
    }
    assert all(d.index_status == "ready" for d in docs.values())
    return kb, docs


def ask(api, kb, query, **body):  # type: ignore[no-untyped-def]
    payload = {"query": query, "knowledge_id": str(kb.pk), "score_threshold": 0, **body}
    response = api.post(URL, payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()["records"]


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
@pytest.mark.parametrize(
    ("query", "doc", "needle"),
    [
        ("how long are backups snapshots kept", "guide", "thirty days"),
        ("quarterly revenue", "finance", "nine percent"),
        ("penguins antarctic", "zoo", "Penguins"),
        ("printer toner facilities", "guide", "toner"),
    ],
)
def test_each_mode_finds_the_right_chunk(api, corpus, mode, query, doc, needle):
    kb, docs = corpus
    records = ask(api, kb, query, retrieval_mode=mode)
    top = records[0]
    assert needle in top["content"], records
    assert top["metadata"]["doc_ref"] == docs[doc].doc_ref and top["title"] == docs[doc].name
    assert top["metadata"]["knowledge_id"] == str(kb.pk)
    assert 0 < top["score"] <= 1.0 + 1e-6


def test_top_k_threshold_and_weights(api, corpus):
    kb, _ = corpus
    assert len(ask(api, kb, "backups printer revenue penguins", retrieval_mode="keyword", top_k=2)) == 2
    assert ask(api, kb, "backups", retrieval_mode="vector", score_threshold=0.99) == []
    weighted = ask(
        api,
        kb,
        "nightly backups",
        retrieval_mode="hybrid",
        hybrid_weights={"vector_weight": 0.5, "keyword_weight": 0.5},
    )
    assert "nightly" in weighted[0]["content"]


def test_metadata_condition(api, corpus):
    kb, docs = corpus
    only_zoo = {
        "operator": "and",
        "conditions": [{"key": "doc_ref", "operator": "in", "value": [docs["zoo"].doc_ref]}],
    }
    records = ask(api, kb, "backups nightly", retrieval_mode="vector", metadata_condition=only_zoo)
    assert {r["metadata"]["doc_ref"] for r in records} == {docs["zoo"].doc_ref}
    bad = {
        "query": "x",
        "knowledge_id": kb.pk,
        "metadata_condition": {"conditions": [{"key": "a", "operator": "like"}]},
    }
    assert api.post(URL, bad, format="json").status_code == 422


def test_disabled_documents_do_not_answer(api, corpus):
    kb, docs = corpus
    api.put(f"/api/knowledge-documents/{docs['guide'].pk}", {"status": "disabled"}, format="json")
    for mode in ("vector", "keyword", "hybrid"):
        records = ask(api, kb, "backups nightly", retrieval_mode=mode)
        assert all(r["metadata"]["doc_ref"] != docs["guide"].doc_ref for r in records)


def test_deleted_documents_leave_no_vectors(api, corpus):
    kb, docs = corpus
    api.delete(f"/api/knowledge-documents/{docs['zoo'].pk}")
    assert not KnowledgeChunk.objects.filter(document_id=docs["zoo"].pk).exists()
    for mode in ("vector", "keyword", "hybrid"):
        assert all("Penguins" not in r["content"] for r in ask(api, kb, "penguins", retrieval_mode=mode))


def test_another_users_kb_is_404(corpus, client_for, other_user):
    kb, _ = corpus
    response = client_for(other_user).post(URL, {"query": "backups", "knowledge_id": kb.pk}, format="json")
    assert response.status_code == 404


def test_bad_input(api, corpus, anon_client):
    kb, _ = corpus
    for body in (
        {},
        {"query": "", "knowledge_id": kb.pk},
        {"query": "x", "knowledge_id": "abc"},
        {"query": "x", "knowledge_id": kb.pk, "retrieval_mode": "magic"},
        {"query": "x", "knowledge_id": kb.pk, "top_k": 0},
        {"query": "x", "knowledge_id": kb.pk, "top_k": 101},
    ):
        assert api.post(URL, body, format="json").status_code == 422, body
    assert anon_client.post(URL, {"query": "x", "knowledge_id": kb.pk}, format="json").status_code == 401
    # Query syntax of the full-text index is never interpreted.
    for weird in ('"unbalanced', "a AND OR NOT (", "*", "'; drop table x; --", "NEAR(a b)"):
        ask(api, kb, weird, retrieval_mode="keyword")


def test_vector_mode_without_an_embedding_model_is_a_clear_400(api, user):
    kb = f.make_kb(user, "KeywordOnly", rag=f.retrieval_config(None))
    doc = f.add_document(user, kb, "a.txt", b"Lighthouses guide ships along the rocky coast.")
    assert doc.index_status == "ready"
    records = ask(api, kb, "lighthouses coast", retrieval_mode="keyword")
    assert "Lighthouses" in records[0]["content"]
    response = api.post(
        URL, {"query": "ships", "knowledge_id": kb.pk, "retrieval_mode": "vector"}, format="json"
    )
    assert response.status_code == 400 and "embedding model" in response.json()["detail"]


def test_embedding_model_down_at_query_time_is_a_clear_400(api, corpus, fake_embed):
    kb, _ = corpus
    fake_embed.stop()
    response = api.post(URL, {"query": "backups", "knowledge_id": kb.pk}, format="json")
    assert response.status_code == 400 and "cannot be reached" in response.json()["detail"]


def test_rerank_reorders(user, fake_embed):
    f.embedding_model(user, fake_embed.base_url)
    f.rerank_model(user, fake_embed.base_url)
    config = f.retrieval_config(rerank_config={"model_name": "reranker", "model_namespace": "default"})
    kb = f.make_kb(user, "Reranked", rag=config)
    f.add_document(user, kb, "a.txt", b"apples and pears", type="sentence", chunk_size=128, chunk_overlap=0)
    f.add_document(
        user, kb, "b.txt", b"apples pears plums cherries", type="sentence", chunk_size=128, chunk_overlap=0
    )
    hits = retrieval.search(
        kb, retrieval.query_for(kb, "plums cherries apples", score_threshold=0.0, mode="keyword")
    )
    assert fake_embed.rerank_requests and hits[0].document_name == "b.txt" and hits[0].score == 1.0


def test_embedding_model_with_a_malformed_url_fails_the_document(user):
    f.embedding_model(user, "http://[::1")
    kb = f.make_kb(user, "Broken", rag=f.retrieval_config())
    doc = f.add_document(user, kb, "a.txt", b"words")
    assert doc.index_status == "failed" and "cannot be" in doc.index_error


def test_rag_upload_indexes_before_answering(api, user, fake_embed):
    import io

    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, "Uploads", rag=f.retrieval_config())
    upload = io.BytesIO(b"Glaciers carve valleys over thousands of years.")
    upload.name = "ice.txt"
    splitter = '{"type": "sentence", "chunk_size": 128, "chunk_overlap": 0}'
    response = api.post(
        "/api/rag/documents/upload",
        {"knowledge_id": str(kb.pk), "file": upload, "splitter_config": splitter},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["source_file"], body["chunk_count"], body["status"]) == ("ice.txt", 1, "success")
    assert "Glaciers" in ask(api, kb, "glaciers valleys", retrieval_mode="keyword")[0]["content"]
    bad = io.BytesIO(b"x")
    bad.name = "x.txt"
    refused = api.post(
        "/api/rag/documents/upload",
        {"knowledge_id": kb.pk, "file": bad, "splitter_config": "{"},
        format="multipart",
    )
    assert refused.status_code == 422
    plain = f.make_kb(user, "Plain")
    again = io.BytesIO(b"x")
    again.name = "x.txt"
    no_rag = api.post(
        "/api/rag/documents/upload", {"knowledge_id": plain.pk, "file": again}, format="multipart"
    )
    assert no_rag.status_code == 400
