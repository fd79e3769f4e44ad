"""``manage.py index``: reindexes with a progress bar, records failures and goes on."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from kinds.models import Kind
from knowledge.models import KnowledgeChunk
from knowledge.tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def test_index_all_then_failed(user, fake_embed):
    f.embedding_model(user, fake_embed.base_url)
    kb = f.make_kb(user, rag=f.retrieval_config())
    docs = [f.add_document(user, kb, f"{i}.txt", f"document number {i}".encode()) for i in range(3)]
    plain = f.make_kb(user, "Plain")
    f.add_document(user, plain, "p.txt", b"not indexed")
    model = Kind.objects.get(name="embedder")
    model.document["spec"]["modelConfig"]["env"]["model_id"] = "fake-embed-error-500"
    model.save()
    out, err = io.StringIO(), io.StringIO()
    call_command("index", "--all", stdout=out, stderr=err)
    assert "[" + "#" * 30 + "] 4/4" in out.getvalue()
    assert "Indexed 0, failed 3, skipped 1 of 4" in out.getvalue() and "HTTP 500" in err.getvalue()
    assert not KnowledgeChunk.objects.filter(document__in=docs).exists()
    model.document["spec"]["modelConfig"]["env"]["model_id"] = "fake-embed"
    model.save()
    out = io.StringIO()
    call_command("index", "--failed", stdout=out)
    assert "Indexed 3, failed 0, skipped 0 of 3" in out.getvalue()
    assert KnowledgeChunk.objects.filter(document__in=docs).count() == 3


def test_index_needs_a_selection():
    with pytest.raises(CommandError):
        call_command("index")
