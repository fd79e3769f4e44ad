"""A KnowledgeBase's document edited in the Kinds console goes through the knowledge services
(knowledge/console.py): what the update route may change changes, the rest is refused on the
form, an unchanged document writes nothing, and the admin history records the change."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from kinds.init_data import dump_yaml
from kinds.models import Kind
from knowledge.tests.factories import embedding_model, make_kb, retrieval_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.user_name, password=PASSWORD)
    return client


def page_document(console: Client, kb: Kind) -> dict:
    page = console.get(reverse("admin:kinds_kind_change", args=[kb.pk]))
    assert page.status_code == 200
    match = re.search(r'<textarea name="document_yaml"[^>]*>(.*?)</textarea>', page.content.decode(), re.S)
    assert match, page.content.decode()[:2000]
    return yaml.safe_load(html.unescape(match.group(1)))


def save(console: Client, kb: Kind, document: dict):  # type: ignore[no-untyped-def]
    url = reverse("admin:kinds_kind_change", args=[kb.pk])
    return console.post(url, {"document_yaml": dump_yaml(document), "_save": "Save"})


def test_editable_fields_change_through_the_service(console, user):
    embedding_model(user, "http://127.0.0.1:9/v1")
    kb = make_kb(user, "Manuals", rag=retrieval_config())
    document = page_document(console, kb)
    document["spec"]["description"] = "Product manuals"
    document["spec"]["retrievalConfig"]["top_k"] = 8
    document["spec"]["kbType"] = "notebook"
    response = save(console, kb, document)
    assert response.status_code == 302, html.unescape(response.content.decode())[:3000]
    kb.refresh_from_db()
    assert kb.spec["description"] == "Product manuals"
    assert kb.spec["retrievalConfig"]["top_k"] == 8
    assert kb.spec["kbType"] == "notebook"
    assert kb.owner == user
    assert LogEntry.objects.filter(object_id=str(kb.pk), action_flag=CHANGE).count() == 1

    # The same document again (fresh version) writes nothing.
    version = kb.resource_version
    assert save(console, kb, page_document(console, kb)).status_code == 302
    kb.refresh_from_db()
    assert kb.resource_version == version


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda spec: spec["retrievalConfig"].update(embedding_config={"model_name": "other"}),
            "cannot be changed on a knowledge base: retrievalConfig.embedding_config",
        ),
        (lambda spec: spec["retrievalConfig"].update(top_k=99), "spec.retrievalConfig: top_k"),
        (lambda spec: spec.update(name=""), "spec.name"),
        (lambda spec: spec.update(kbType="huge"), "spec.kb_type"),
        (lambda spec: spec.update(somethingElse=1), "cannot be changed on a knowledge base: somethingElse"),
    ],
)
def test_what_may_not_change_is_refused_on_the_form(console, user, change, message):
    embedding_model(user, "http://127.0.0.1:9/v1")
    kb = make_kb(user, "Fixed", rag=retrieval_config())
    before = (kb.document, kb.resource_version)
    document = page_document(console, kb)
    change(document["spec"])
    response = save(console, kb, document)
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert "errorlist" in body and message in body, body[body.find("errorlist") - 200 :][:1500]
    kb.refresh_from_db()
    assert (kb.document, kb.resource_version) == before


def test_a_stale_version_is_refused(console, user):
    kb = make_kb(user, "Stale")
    document = page_document(console, kb)
    document["metadata"]["resourceVersion"] = "42"
    document["spec"]["description"] = "late"
    response = save(console, kb, document)
    assert response.status_code == 200
    assert "resourceVersion 42 is stale" in html.unescape(response.content.decode())


def test_a_models_page_lists_the_knowledge_bases_using_it(console, user, other_user):
    mine = embedding_model(user, "http://127.0.0.1:9/v1")
    theirs = embedding_model(other_user, "http://127.0.0.1:9/v1")  # same name, bob's own
    kb = make_kb(user, "Uses mine", rag=retrieval_config())
    bobs = make_kb(other_user, "Uses his", rag=retrieval_config())
    page = html.unescape(console.get(reverse("admin:kinds_kind_change", args=[mine.pk])).content.decode())
    assert reverse("admin:kinds_kind_change", args=[kb.pk]) in page
    assert reverse("admin:kinds_kind_change", args=[bobs.pk]) not in page
    page = html.unescape(console.get(reverse("admin:kinds_kind_change", args=[theirs.pk])).content.decode())
    assert reverse("admin:kinds_kind_change", args=[bobs.pk]) in page
    assert reverse("admin:kinds_kind_change", args=[kb.pk]) not in page
