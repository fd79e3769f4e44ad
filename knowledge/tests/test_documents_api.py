"""Documents: add (indexed through the fake embedding server), list, update, reindex, content,
detail, chunks, batches, delete; and who may do what."""

from __future__ import annotations

import pytest

from knowledge.models import KnowledgeChunk, KnowledgeDocument
from knowledge.tests import factories as f
from tasks.models import SubtaskContext
from tasks.tests.test_attachments_parser import make_docx, make_pdf

pytestmark = pytest.mark.django_db(transaction=True)  # indexing is queued on commit

KB = "/api/knowledge-bases"
DOCS = "/api/knowledge-documents"
MD = (
    b"# Install\n\nRun the installer and accept the licence.\n\n"
    b"# Backups\n\nBackups run nightly at two o'clock and are kept for thirty days.\n"
)


@pytest.fixture
def rag_kb(user, fake_embed):  # type: ignore[no-untyped-def]
    f.embedding_model(user, fake_embed.base_url)
    return f.make_kb(user, rag=f.retrieval_config())


def test_add_document_indexes_it(api, user, rag_kb, fake_embed):
    attachment = f.upload(user, "guide.md", MD)
    body = {"attachment_id": attachment.pk, "name": "guide.md", "file_extension": "md", "file_size": len(MD)}
    response = api.post(f"{KB}/{rag_kb.pk}/documents", body, format="json")
    assert response.status_code == 201, response.content
    doc = response.json()
    assert doc["doc_ref"] == str(doc["id"]) and doc["kind_id"] == rag_kb.pk
    assert (doc["status"], doc["is_active"], doc["index_status"], doc["index_progress"]) == (
        "enabled",
        True,
        "ready",
        100,
    )
    assert doc["chunk_count"] == 2  # one chunk per Markdown section
    chunks = api.get(f"{DOCS}/{doc['id']}/chunks").json()
    assert chunks["total"] == 2 and chunks["splitter_subtype"] == "markdown_sentence"
    assert chunks["items"][1]["content"].startswith("# Backups")
    one = api.get(f"{DOCS}/{doc['id']}/chunks/1").json()
    assert one["document_name"] == "guide.md" and one["kb_id"] == rag_kb.pk and "nightly" in one["content"]
    assert api.get(f"{DOCS}/{doc['id']}/chunks", {"search": "NIGHTLY"}).json()["total"] == 1
    assert fake_embed.embedding_requests and fake_embed.embedding_requests[0]["model"] == "fake-embed"
    assert all(c.embedding for c in KnowledgeChunk.objects.filter(document_id=doc["id"]))
    detail = api.get(f"{KB}/{rag_kb.pk}/documents/{doc['id']}/detail").json()
    assert "Backups run nightly" in detail["content"] and detail["truncated"] is False
    assert api.get(KB).json()["items"][0]["document_count"] == 1


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("r.docx", make_docx(["Quarterly revenue grew by nine percent."]), "revenue"),
        ("p.pdf", make_pdf(["Penguins live in the southern hemisphere"]), "Penguins"),
        ("n.txt", b"Plain text notes about volcanoes.", "volcanoes"),
    ],
)
def test_file_types_are_extracted(user, rag_kb, name, content, needle):
    doc = f.add_document(user, rag_kb, name, content)
    assert doc.index_status == "ready", doc.index_error
    assert needle in KnowledgeChunk.objects.get(document=doc).content


def test_without_retrieval_config_nothing_is_indexed(api, user):
    kb = f.make_kb(user)
    doc = f.add_document(user, kb, "a.txt", b"words")
    assert (doc.index_status, doc.status, doc.is_active) == ("not_indexed", "disabled", False)
    response = api.post(f"{DOCS}/{doc.pk}/reindex")
    assert response.status_code == 400 and "retrieval" in response.json()["detail"]


@pytest.mark.parametrize(
    ("model_id", "content", "reason"),
    [
        ("fake-embed", b"", "no text"),
        ("fake-embed", b"   \n\n  ", "no text"),
        ("fake-embed-error-500", b"some words", "HTTP 500"),
        ("fake-embed-error-401", b"some words", "HTTP 401"),
    ],
)
def test_failures_leave_the_document_failed_with_a_reason(user, fake_embed, model_id, content, reason):
    f.embedding_model(user, fake_embed.base_url, name="e2", model_id=model_id)
    kb = f.make_kb(user, "Failing", rag=f.retrieval_config("e2"))
    doc = f.add_document(user, kb, "a.txt", content)
    assert (doc.index_status, doc.status, doc.is_active) == ("failed", "disabled", False)
    assert reason in doc.index_error
    assert not KnowledgeChunk.objects.filter(document=doc).exists()


def test_corrupt_file_fails_with_a_reason(user, rag_kb):
    attachment = f.upload(user, "ok.txt", b"fine")
    # The stored file is replaced by garbage after upload (a damaged store).
    from tasks.attachments import storage

    storage.delete(attachment.storage_key)
    SubtaskContext.objects.filter(pk=attachment.pk).update(name="broken.pdf")
    with storage.backend().open(attachment.storage_key, "wb") as handle:
        handle.write(b"%PDF-1.4 not really a pdf")
    from knowledge.services import documents

    doc = documents.create(
        actor=user,
        kb_id=rag_kb.pk,
        data=documents.DocumentInput(name="broken.pdf", attachment_id=attachment.pk),
    )
    doc.refresh_from_db()
    assert doc.index_status == "failed" and "damaged" in doc.index_error


def test_failure_mid_document_removes_partial_work_and_reindex_retries(user, fake_embed, settings, api):
    settings.KNOWLEDGE_EMBED_BATCH = 2
    f.embedding_model(user, fake_embed.base_url, name="flaky", model_id="fake-embed-failafter-1")
    kb = f.make_kb(user, "Flaky", rag=f.retrieval_config("flaky"))
    text = "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 20 for i in range(8)).encode()
    doc = f.add_document(user, kb, "long.txt", text, type="sentence", chunk_size=200, chunk_overlap=0)
    assert doc.index_status == "failed" and "HTTP 500" in doc.index_error
    assert len(fake_embed.embedding_requests) == 2  # the first batch passed, the second failed
    assert not KnowledgeChunk.objects.filter(document=doc).exists()
    # The model recovers (the same server, a healthy model id): reindex succeeds.
    from kinds.models import Kind

    model = Kind.objects.get(name="flaky")
    model.document["spec"]["modelConfig"]["env"]["model_id"] = "fake-embed"
    model.save()
    assert api.post(f"{DOCS}/{doc.pk}/reindex").json()["message"] == "Reindex started"
    doc.refresh_from_db()
    assert doc.index_status == "ready" and doc.chunk_count > 2 and doc.status == "enabled"


def test_embedding_timeout_fails_the_document(user, fake_embed, settings):
    settings.KNOWLEDGE_MODEL_TIMEOUT = 1
    f.embedding_model(user, fake_embed.base_url, name="slow", model_id="fake-embed-hang")
    kb = f.make_kb(user, "Slow", rag=f.retrieval_config("slow"))
    doc = f.add_document(user, kb, "a.txt", b"words")
    assert doc.index_status == "failed" and "in time" in doc.index_error


def test_outbound_guard_applies_to_embedding_models(user, fake_embed, settings):
    f.embedding_model(user, fake_embed.base_url, name="guarded")
    kb = f.make_kb(user, "Guarded", rag=f.retrieval_config("guarded"))
    settings.OUTBOUND_ALLOWLIST = []
    doc = f.add_document(user, kb, "a.txt", b"words")
    assert doc.index_status == "failed" and "WEGENT_OUTBOUND_ALLOWLIST" in doc.index_error


def test_update_disable_enable_and_rename(api, user, rag_kb):
    doc = f.add_document(user, rag_kb, "a.txt", b"alpha beta")
    body = api.put(f"{DOCS}/{doc.pk}", {"status": "disabled", "name": "b.txt"}, format="json").json()
    assert (body["status"], body["name"]) == ("disabled", "b.txt")
    assert api.put(f"{DOCS}/{doc.pk}", {"status": "enabled"}, format="json").json()["status"] == "enabled"
    assert api.put(f"{DOCS}/{doc.pk}", {"status": "gone"}, format="json").status_code == 422


def test_content_edit_reindexes(api, user, rag_kb):
    doc = f.add_document(user, rag_kb, "note.txt", b"old words", source_type="text")
    body = api.put(f"{DOCS}/{doc.pk}/content", {"content": "brand new sentence"}, format="json")
    assert body.status_code == 200 and body.json()["index_status"] == "ready"
    assert KnowledgeChunk.objects.get(document=doc).content == "brand new sentence"
    assert "brand new" in api.get(f"{DOCS}/{doc.pk}/detail").json()["content"]
    file_doc = f.add_document(user, rag_kb, "file.txt", b"x")
    assert api.put(f"{DOCS}/{file_doc.pk}/content", {"content": "y"}, format="json").status_code == 400


def test_delete_removes_chunks_and_the_file(api, user, rag_kb):
    doc = f.add_document(user, rag_kb, "a.txt", b"alpha")
    assert api.delete(f"{DOCS}/{doc.pk}").status_code == 204
    assert not KnowledgeDocument.objects.filter(pk=doc.pk).exists()
    assert not KnowledgeChunk.objects.filter(document_id=doc.pk).exists()
    assert not SubtaskContext.objects.filter(pk=doc.attachment_id).exists()
    assert api.delete(f"{DOCS}/{doc.pk}").status_code == 404


def test_batches(api, user, other_user, rag_kb):
    docs = [f.add_document(user, rag_kb, f"{i}.txt", b"words") for i in range(3)]
    ids = [d.pk for d in docs]
    disabled = api.post(f"{DOCS}/batch/disable", {"document_ids": [*ids, 999999]}, format="json").json()
    assert (disabled["success_count"], disabled["failed_ids"]) == (3, [999999])
    assert api.post(f"{DOCS}/batch/enable", {"document_ids": ids}, format="json").json()["success_count"] == 3
    assert api.post(f"{DOCS}/batch/delete", {"document_ids": [999999]}, format="json").status_code == 403
    assert api.post(f"{DOCS}/batch/delete", {"document_ids": "x"}, format="json").status_code == 422
    assert api.post(f"{DOCS}/batch/delete", {"document_ids": ids}, format="json").json()["success_count"] == 3


def test_another_users_documents(api, user, other_user, client_for, rag_kb):
    doc = f.add_document(user, rag_kb, "a.txt", b"secret words")
    bob = client_for(other_user)
    for method, path in [
        ("get", f"{DOCS}/{doc.pk}/chunks"),
        ("get", f"{DOCS}/{doc.pk}/chunks/0"),
        ("get", f"{DOCS}/{doc.pk}/detail"),
        ("post", f"{DOCS}/{doc.pk}/reindex"),
        ("delete", f"{DOCS}/{doc.pk}"),
        ("get", f"{KB}/{rag_kb.pk}/documents/{doc.pk}/detail"),
    ]:
        assert getattr(bob, method)(path).status_code == 404, path
    assert bob.put(f"{DOCS}/{doc.pk}", {"name": "x"}, format="json").status_code == 404
    # Bob cannot add Alice's attachment to his own knowledge base either.
    bob_kb = f.make_kb(other_user, "Bob's")
    body = {"attachment_id": doc.attachment_id, "name": "stolen.txt"}
    assert bob.post(f"{KB}/{bob_kb.pk}/documents", body, format="json").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a.txt"},
        {"attachment_id": "x", "name": "a"},
        {"attachment_id": 1, "name": ""},
        {"attachment_id": 1, "name": "a", "splitter_config": {"type": "sentence", "chunk_size": 10}},
        {
            "attachment_id": 1,
            "name": "a",
            "splitter_config": {"type": "sentence", "chunk_size": 200, "chunk_overlap": 300},
        },
        {"attachment_id": 1, "name": "a", "splitter_config": {"type": "fancy"}},
        {"name": "t", "source_type": "table", "source_config": {}},
    ],
)
def test_bad_document_bodies(api, user, body):
    kb = f.make_kb(user)
    response = api.post(f"{KB}/{kb.pk}/documents", body, format="json")
    assert response.status_code in (400, 404, 422), response.content
    assert not KnowledgeDocument.objects.exists()


def test_routes_need_credentials(anon_client):
    for path in (f"{DOCS}/1/chunks", f"{DOCS}/1/detail", f"{KB}/1/documents"):
        assert anon_client.get(path).status_code == 401


def test_an_image_has_no_text_to_index(user, rag_kb):
    from tasks.tests.test_attachments_parser import make_png

    doc = f.add_document(user, rag_kb, "photo.png", make_png())
    assert doc.index_status == "failed" and "no text" in doc.index_error


def test_unsupported_or_corrupt_uploads_are_refused_before_any_document(api, user, rag_kb):
    import io

    for name, content in (("old.doc", b"\xd0\xcf\x11\xe0 legacy"), ("fake.pdf", b"not a pdf at all")):
        upload = io.BytesIO(content)
        upload.name = name
        response = api.post("/api/attachments/upload", {"file": upload}, format="multipart")
        assert response.status_code == 400, (name, response.content)
    assert not KnowledgeDocument.objects.exists()


def test_semantic_splitter_cuts_where_the_topic_changes(user, rag_kb, fake_embed):
    topics = [
        "The volcano erupted lava and magma near the crater",
        "Penguins waddle across antarctic ice and snow",
        "The stock market price index fell for traders",
    ]
    text = " ".join(f"{sentence} {i}." for sentence in topics for i in range(4)).encode()
    doc = f.add_document(
        user, rag_kb, "mixed.txt", text, type="semantic", buffer_size=1, breakpoint_percentile_threshold=80
    )
    assert (doc.index_status, doc.splitter_type) == ("ready", "semantic")
    chunks = list(
        KnowledgeChunk.objects.filter(document=doc).order_by("position").values_list("content", flat=True)
    )
    assert len(chunks) >= 3
    assert "volcano" in chunks[0] and "market" not in chunks[0]
    assert "market" in chunks[-1] and "volcano" not in chunks[-1]
    assert "".join(chunks).replace(" ", "") == text.decode().replace(" ", "")  # nothing lost


def test_semantic_without_an_embedding_model_is_split_as_smart(user):
    kb = f.make_kb(user, "Keyword", rag=f.retrieval_config(None))
    doc = f.add_document(user, kb, "a.txt", b"One sentence. Another one.", type="semantic")
    assert (doc.index_status, doc.splitter_type) == ("ready", "smart")
