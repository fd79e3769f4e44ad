"""Summaries (reference extras §1.10): a document's summary after indexing, the knowledge base's
from its documents', refresh routes, a failing model, and the switches."""

from __future__ import annotations

import pytest

from kinds.tests.factories import make_kind, model_doc
from knowledge.services import bases
from knowledge.tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

KB = "/api/knowledge-bases"
TEXT = b"Volcanoes erupt lava. Volcanoes form islands. Lava cools into basalt rock."


def summarised_kb(user, fake_embed, model_id="fake-summary"):  # type: ignore[no-untyped-def]
    f.embedding_model(user, fake_embed.base_url)
    make_kind(user, model_doc("summariser", model_id=model_id, base_url=fake_embed.base_url))
    return bases.create(
        actor=user,
        data=bases.KnowledgeBaseInput(
            name="Summarised",
            retrieval_config=f.retrieval_config(),
            summary_enabled=True,
            summary_model_ref={"name": "summariser", "namespace": "default", "type": "user"},
        ),
    )


def test_document_and_knowledge_base_summaries(api, user, fake_embed):
    kb = summarised_kb(user, fake_embed)
    doc = f.add_document(user, kb, "volcano.txt", TEXT)
    summary = api.get(f"{KB}/{kb.pk}/documents/{doc.pk}/summary").json()["summary"]
    assert (
        summary["status"] == "completed"
        and summary["short_summary"] == "Summary: volcanoes erupt lava volcanoes form"
    )
    assert summary["topics"][:2] == ["lava", "volcanoes"]
    assert "Volcanoes erupt lava" in fake_embed.chat_requests[0]["messages"][-1]["content"]
    kb_summary = api.get(f"{KB}/{kb.pk}").json()["summary"]
    assert kb_summary["status"] == "completed" and kb_summary["meta_info"]["document_count"] == 1
    assert "volcano.txt" in fake_embed.chat_requests[-1]["messages"][-1]["content"]
    assert api.get(f"{KB}/{kb.pk}/summary").json()["summary"]["status"] == "completed"
    before = len(fake_embed.chat_requests)
    refreshed = api.post(f"{KB}/{kb.pk}/documents/{doc.pk}/summary/refresh")
    assert refreshed.json() == {"message": "Summary generation started", "status": "generating"}
    assert len(fake_embed.chat_requests) > before
    assert api.post(f"{KB}/{kb.pk}/summary/refresh").status_code == 200


def test_plain_text_answers_still_summarise(api, user, fake_embed):
    kb = summarised_kb(user, fake_embed, model_id="fake-plain")
    doc = f.add_document(user, kb, "v.txt", TEXT)
    summary = api.get(f"{KB}/{kb.pk}/documents/{doc.pk}/summary").json()["summary"]
    assert (
        summary["status"] == "completed" and summary["short_summary"] == "volcanoes erupt lava volcanoes form"
    )


def test_a_failing_model_marks_the_summary_failed(api, user, fake_embed):
    kb = summarised_kb(user, fake_embed, model_id="fake-error-500")
    doc = f.add_document(user, kb, "v.txt", TEXT)
    assert doc.index_status == "ready"  # the document itself is fine
    summary = api.get(f"{KB}/{kb.pk}/documents/{doc.pk}/summary").json()["summary"]
    assert summary["status"] == "failed" and "500" in summary["error"]


def test_switches(api, user, fake_embed, settings, client_for, other_user):
    kb = f.make_kb(user, rag=f.retrieval_config(None))
    doc = f.add_document(user, kb, "v.txt", TEXT)
    assert api.get(f"{KB}/{kb.pk}/documents/{doc.pk}/summary").json()["summary"] is None
    assert api.post(f"{KB}/{kb.pk}/summary/refresh").status_code == 400
    assert client_for(other_user).post(f"{KB}/{kb.pk}/summary/refresh").status_code == 404
    settings.KNOWLEDGE_SUMMARY_ENABLED = False
    off = summarised_kb(user, fake_embed)
    f.add_document(user, off, "v.txt", TEXT)
    assert fake_embed.chat_requests == []
