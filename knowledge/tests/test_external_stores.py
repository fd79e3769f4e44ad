"""Knowledge bases whose vectors live in a Retriever's store (``knowledge.external``).

Qdrant: the real ``qdrant-client`` in its local mode (in memory) stands in for a Qdrant server,
which cannot run on this machine; the store's client factory is pointed at it. Elasticsearch: a
fake server over real HTTP (``fake_es.py``) answering the REST calls the store makes. Both: the
right chunk is found through the store, points follow reindex and delete, a point of a crashed
run never answers, a store that is down fails the document with a reason and retrieval with a
clear 400."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kinds.tests.factories import make_kind
from knowledge import external, external_stores
from knowledge.models import KnowledgeChunk
from knowledge.tests import factories as f
from knowledge.tests.fake_es import FakeElasticsearch
from knowledge.tests.test_retrieval import GUIDE, ask
from tasks.tests.test_attachments_parser import make_pdf

pytestmark = pytest.mark.django_db(transaction=True)


def retriever(user, name: str, store: str, url: str, **strategy: Any):  # type: ignore[no-untyped-def]
    return make_kind(
        user,
        {
            "apiVersion": "agent.wecode.io/v1",
            "kind": "Retriever",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "storageConfig": {
                    "type": store,
                    "url": url,
                    "apiKey": "store-key",
                    "indexStrategy": strategy or {"mode": "per_dataset"},
                }
            },
        },
    )


@pytest.fixture
def qdrant(monkeypatch) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    seen: list[external.StoreConfig] = []

    def local(config: external.StoreConfig) -> Any:
        seen.append(config)
        return client

    monkeypatch.setattr(external_stores, "qdrant_client_for", local)
    client.seen = seen  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture
def fake_es(settings) -> Iterator[FakeElasticsearch]:  # type: ignore[no-untyped-def]
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    with FakeElasticsearch() as server:
        yield server


def kb_on(user, fake_embed, store_name: str):  # type: ignore[no-untyped-def]
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config(retriever_name=store_name))
    docs = {
        "guide": f.add_document(user, kb, "guide.md", GUIDE),
        "zoo": f.add_document(
            user, kb, "zoo.pdf", make_pdf(["Penguins huddle together in antarctic winter"])
        ),
    }
    assert all(d.index_status == "ready" for d in docs.values()), [d.index_error for d in docs.values()]
    return kb, docs


def qdrant_points(client: Any, collection: str) -> list[dict[str, Any]]:
    points, _ = client.scroll(collection, limit=1000, with_payload=True)
    return [p.payload for p in points]


def test_qdrant_holds_the_vectors_and_answers(api, user, fake_embed, qdrant):
    retriever(user, "qd", "qdrant", "http://127.0.0.1:6333")
    kb, docs = kb_on(user, fake_embed, "qd")
    collection = f"wegent_kb_{kb.pk}"
    payloads = qdrant_points(qdrant, collection)
    assert len(payloads) == KnowledgeChunk.objects.filter(kb_id=kb.pk).count()
    assert {p["knowledge_id"] for p in payloads} == {str(kb.pk)}
    assert {p["doc_ref"] for p in payloads} == {d.doc_ref for d in docs.values()}
    assert qdrant.seen[-1].api_key == "store-key"  # the stored secret, decrypted for the client
    records = ask(api, kb, "how long are backups snapshots kept", retrieval_mode="vector")
    assert "thirty days" in records[0]["content"]
    assert records[0]["metadata"]["doc_ref"] == docs["guide"].doc_ref


def test_qdrant_reindex_and_delete_keep_the_collection_in_step(api, user, fake_embed, qdrant):
    retriever(user, "qd", "qdrant", "http://127.0.0.1:6333")
    kb, docs = kb_on(user, fake_embed, "qd")
    collection = f"wegent_kb_{kb.pk}"
    before = len(qdrant_points(qdrant, collection))
    assert api.post(f"/api/knowledge-documents/{docs['guide'].pk}/reindex").status_code in (200, 202)
    payloads = qdrant_points(qdrant, collection)
    assert len(payloads) == before  # replaced, not added
    docs["guide"].refresh_from_db()
    guide = [p for p in payloads if p["doc_ref"] == docs["guide"].doc_ref]
    assert {p["generation"] for p in guide} == {docs["guide"].indexed_generation}
    api.delete(f"/api/knowledge-documents/{docs['zoo'].pk}")
    assert all(p["doc_ref"] != docs["zoo"].doc_ref for p in qdrant_points(qdrant, collection))
    assert all(
        "Penguins" not in r["content"] for r in ask(api, kb, "penguins antarctic", retrieval_mode="vector")
    )


def test_points_of_a_crashed_run_never_answer(user, fake_embed, qdrant):
    retriever(user, "qd", "qdrant", "http://127.0.0.1:6333")
    kb, docs = kb_on(user, fake_embed, "qd")
    guide = docs["guide"]
    store = external_stores.store_for(external.config_of(kb_row_retriever(user)), kb.pk, user.pk)
    # A later run wrote its points, then died before its chunks' transaction committed.
    stray = external.Point(0, [1.0] + [0.0] * 255, "stray text")
    store.upsert(kb.pk, guide.pk, guide.indexed_generation + 1, guide.name, [stray])
    from knowledge.services import vector_store

    found = vector_store.search(kb, stray.vector, {guide.pk}, 50)
    assert found  # the run's own points answer ...
    assert all(score < 0.999 for _, score in found)  # ... the stray one (a perfect match) does not


def kb_row_retriever(user):  # type: ignore[no-untyped-def]
    from knowledge import selectors

    return selectors.retriever_row(user, "qd")


def test_index_names_follow_the_strategies():
    def name(store: str, **strategy: Any) -> str:
        config = external.StoreConfig(name="r", type=store, url="", index_strategy=strategy)
        return external.index_name(config, 23, 7)

    assert name("qdrant") == "wegent_kb_23"
    assert name("qdrant", mode="rolling", rollingStep=10) == "wegent_collection_20"
    assert name("elasticsearch", mode="rolling", prefix="acme") == "acme_index_20"
    assert name("elasticsearch", mode="per_user", prefix="acme") == "acme_user_7"
    assert name("qdrant", mode="fixed", fixedName="shared") == "shared"
    for bad in ({"mode": "fixed"}, {"mode": "weekly"}):
        with pytest.raises(external.StoreError):
            name("qdrant", **bad)


def test_a_store_that_is_down_fails_the_document_and_retrieval_clearly(api, user, fake_embed, settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    retriever(user, "down", "qdrant", "http://127.0.0.1:9")  # nothing listens on the discard port
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config(retriever_name="down"))
    doc = f.add_document(user, kb, "guide.md", GUIDE)
    assert doc.index_status == "failed" and "Retriever 'down'" in doc.index_error
    assert not KnowledgeChunk.objects.filter(document=doc).exists()
    response = api.post(
        "/api/rag/retrieve",
        {"query": "backups", "knowledge_id": str(kb.pk), "retrieval_mode": "vector"},
        format="json",
    )
    # No enabled document: nothing to ask the store; a keyword query still answers from the database.
    assert response.status_code == 200 and response.json()["records"] == []


def test_a_private_address_is_refused_by_the_outbound_guard(user, fake_embed, settings):
    retriever(user, "inside", "qdrant", "http://10.1.2.3:6333")
    f.embedding_model(user, fake_embed.base_url)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    kb = f.make_kb(user, rag=f.retrieval_config(retriever_name="inside"))
    doc = f.add_document(user, kb, "guide.md", GUIDE)
    assert doc.index_status == "failed" and "cannot be used" in doc.index_error


def test_elasticsearch_holds_the_vectors_and_answers(api, user, fake_embed, fake_es):
    retriever(user, "es", "elasticsearch", fake_es.url, mode="rolling", prefix="acme")
    kb, docs = kb_on(user, fake_embed, "es")
    index = f"acme_index_{((kb.pk - 1) // 10) * 10}"
    stored = fake_es.docs(index)
    assert len(stored) == KnowledgeChunk.objects.filter(kb_id=kb.pk).count()
    mapping = fake_es.indexes[index]["mappings"]["properties"]["embedding"]
    assert mapping["type"] == "dense_vector" and mapping["similarity"] == "cosine"
    records = ask(api, kb, "penguins antarctic winter", retrieval_mode="vector")
    assert "Penguins" in records[0]["content"]
    assert 0 < records[0]["score"] <= 1.0001  # the cosine, not Elasticsearch's (1 + cos) / 2
    api.post(f"/api/knowledge-documents/{docs['guide'].pk}/reindex")
    api.delete(f"/api/knowledge-documents/{docs['zoo'].pk}")
    remaining = fake_es.docs(index).values()
    assert {d["metadata"]["doc_ref"] for d in remaining} == {docs["guide"].doc_ref}
    docs["guide"].refresh_from_db()
    assert {d["metadata"]["generation"] for d in remaining} == {docs["guide"].indexed_generation}


def test_elasticsearch_down_mid_life_is_a_clear_400(api, user, fake_embed, fake_es):
    retriever(user, "es", "elasticsearch", fake_es.url)
    kb, _ = kb_on(user, fake_embed, "es")
    fake_es.stop()
    response = api.post(
        "/api/rag/retrieve",
        {"query": "penguins", "knowledge_id": str(kb.pk), "retrieval_mode": "vector", "score_threshold": 0},
        format="json",
    )
    assert response.status_code == 400
    assert "Retriever 'es'" in str(response.json())
    keyword = api.post(
        "/api/rag/retrieve",
        {"query": "penguins", "knowledge_id": str(kb.pk), "retrieval_mode": "keyword", "score_threshold": 0},
        format="json",
    )
    assert keyword.status_code == 200 and "Penguins" in keyword.json()["records"][0]["content"]
