"""``/api/knowledge-bases``: list by scope, accessible, config, CRUD, type, and who may do what."""

from __future__ import annotations

import pytest

from knowledge.tests import factories as f

pytestmark = pytest.mark.django_db

BASE = "/api/knowledge-bases"


def create(api, name="Docs", **body):  # type: ignore[no-untyped-def]
    return api.post(BASE, {"name": name, **body}, format="json")


def test_frontend_page_load_list_is_an_envelope(api):
    response = api.get(BASE)
    assert response.status_code == 200
    assert response.json() == {"total": 0, "items": []}


def test_create_read_update_delete(api, user):
    response = create(api, description="handbook", kb_type="classic")
    assert response.status_code == 201, response.content
    kb = response.json()
    assert kb["name"] == "Docs" and kb["kb_type"] == "classic" and kb["namespace"] == "default"
    assert kb["user_id"] == user.pk and kb["document_count"] == 0 and kb["retrieval_config"] is None
    assert (kb["max_calls_per_conversation"], kb["exempt_calls_before_check"]) == (10, 5)
    assert api.get(f"{BASE}/{kb['id']}").json()["description"] == "handbook"
    listed = api.get(BASE).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == kb["id"]
    updated = api.put(
        f"{BASE}/{kb['id']}", {"name": "Renamed", "max_calls_per_conversation": 20}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Renamed"
    assert updated.json()["max_calls_per_conversation"] == 20
    assert (
        api.patch(f"{BASE}/{kb['id']}/type", {"kb_type": "notebook"}, format="json").json()["kb_type"]
        == "notebook"
    )
    assert api.delete(f"{BASE}/{kb['id']}").status_code == 204
    assert api.get(f"{BASE}/{kb['id']}").status_code == 404
    assert api.get(BASE).json()["total"] == 0


def test_duplicate_name_is_400(api):
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 400 and "already exists" in response.json()["detail"]


def test_retrieval_config_needs_an_embedding_model(api, user, fake_embed):
    bad = create(api, retrieval_config=f.retrieval_config("missing"))
    assert bad.status_code == 400 and "not found" in bad.json()["detail"]
    llm = f.make_kind(user, f.model_doc("chat-llm"))
    not_embedding = create(api, retrieval_config=f.retrieval_config(llm.name))
    assert not_embedding.status_code == 400 and "embedding" in not_embedding.json()["detail"]
    f.embedding_model(user, fake_embed.base_url)
    good = create(api, retrieval_config=f.retrieval_config())
    assert good.status_code == 201
    assert good.json()["retrieval_config"]["embedding_config"]["model_name"] == "embedder"


def test_only_search_settings_change_after_creation(api, user, fake_embed):
    f.embedding_model(user, fake_embed.base_url)
    kb = create(api, retrieval_config=f.retrieval_config()).json()
    change = {"retrieval_config": {"retrieval_mode": "hybrid", "top_k": 3}}
    updated = api.put(f"{BASE}/{kb['id']}", change, format="json").json()["retrieval_config"]
    assert updated["retrieval_mode"] == "hybrid" and updated["top_k"] == 3
    assert updated["embedding_config"]["model_name"] == "embedder"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x" * 101},
        {"name": "ok", "kb_type": "wiki"},
        {"name": "ok", "retrieval_config": {"top_k": 11}},
        {"name": "ok", "retrieval_config": {"retrieval_mode": "magic"}},
        {"name": "ok", "retrieval_config": {"hybrid_weights": {"vector_weight": 0.9, "keyword_weight": 0.9}}},
        {"name": "ok", "retrieval_config": {"score_threshold": 2}},
    ],
)
def test_bad_bodies_are_422(api, body):
    response = api.post(BASE, body, format="json")
    assert response.status_code == 422, response.content


def test_needs_credentials(anon_client):
    assert anon_client.get(BASE).status_code == 401
    assert anon_client.post(BASE, {"name": "x"}, format="json").status_code == 401
    assert anon_client.get(f"{BASE}/accessible").status_code == 401


def test_config_needs_credentials_like_every_route(anon_client, api):
    assert anon_client.get(f"{BASE}/config").status_code == 401
    assert api.get(f"{BASE}/config").json() == {"chunk_storage_enabled": True}


def test_another_users_kb_is_404(api, other_user, client_for):
    kb = create(api).json()
    bob = client_for(other_user)
    assert bob.get(f"{BASE}/{kb['id']}").status_code == 404
    assert bob.put(f"{BASE}/{kb['id']}", {"name": "mine"}, format="json").status_code == 404
    assert bob.delete(f"{BASE}/{kb['id']}").status_code == 404
    assert bob.get(f"{BASE}/{kb['id']}/documents").status_code == 404
    assert bob.get(BASE).json()["total"] == 0


def test_group_roles(user, other_user, make_user, client_for):
    carol = make_user("carol")
    f.make_group("team", user, bob="Reporter", carol="Developer")
    alice = client_for(user)
    kb = create(alice, namespace="team").json()
    assert kb["namespace"] == "team"
    reporter, developer = client_for(other_user), client_for(carol)
    assert reporter.get(f"{BASE}/{kb['id']}").status_code == 200
    assert reporter.put(f"{BASE}/{kb['id']}", {"name": "x"}, format="json").status_code == 403
    assert developer.put(f"{BASE}/{kb['id']}", {"description": "d"}, format="json").status_code == 200
    assert developer.delete(f"{BASE}/{kb['id']}").status_code == 403
    assert create(reporter, "Mine", namespace="team").status_code == 403
    listed = reporter.get(BASE, {"scope": "group", "group_name": "team"}).json()
    assert [item["id"] for item in listed["items"]] == [kb["id"]]
    accessible = reporter.get(f"{BASE}/accessible").json()
    assert accessible["personal"] == [] and accessible["team"][0]["group_name"] == "team"
    assert reporter.get(BASE, {"scope": "group"}).status_code == 422


def test_kb_with_documents_cannot_be_deleted(api, user):
    kb = f.make_kb(user)
    f.add_document(user, kb, "a.txt", b"some words")
    response = api.delete(f"{BASE}/{kb.pk}")
    assert response.status_code == 403 and "delete all documents first" in response.json()["detail"]


def test_notebook_cap(api, user, settings):
    kb = f.make_kb(user, kb_type="notebook")
    from knowledge import specs

    settings_cap = specs.NOTEBOOK_MAX_DOCUMENTS
    attachment = f.upload(user, "a.txt", b"text")
    for i in range(settings_cap):
        body = {"attachment_id": attachment.pk, "name": f"d{i}.txt", "file_extension": "txt"}
        assert api.post(f"{BASE}/{kb.pk}/documents", body, format="json").status_code == 201
    over = api.post(
        f"{BASE}/{kb.pk}/documents", {"attachment_id": attachment.pk, "name": "x.txt"}, format="json"
    )
    assert over.status_code == 400 and "at most 50" in over.json()["detail"]
    assert api.get(f"{BASE}/{kb.pk}/documents").json()["total"] == 50
    classic = api.patch(f"{BASE}/{kb.pk}/type", {"kb_type": "classic"}, format="json")
    assert classic.status_code == 200


def test_openapi_lists_the_routes(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    for path in (BASE, f"{BASE}/{{kb_id}}", f"{BASE}/{{kb_id}}/documents", f"{BASE}/accessible"):
        assert path in paths, path


def test_task_bindings_count_documents(api, user):
    from kinds.tests.factories import bot_stack
    from tasks.tests import factories as tf

    kb = f.make_kb(user)
    for i in range(2):
        f.add_document(user, kb, f"{i}.txt", b"words")
    stack = bot_stack(user)
    task = tf.make_task(user, stack["team"]).task
    task.document["spec"]["is_group_chat"] = True
    task.save()
    bound = api.post(f"/api/tasks/{task.pk}/knowledge-bases", {"kb_name": kb.name}, format="json")
    assert bound.status_code == 200, bound.content
    assert bound.json()["document_count"] == 2
    assert api.get(f"/api/tasks/{task.pk}/knowledge-bases").json()["items"][0]["document_count"] == 2


def test_organization_namespace(user, admin_user, client_for):
    from accounts.models import Group
    from accounts.roles import GroupLevel

    Group.objects.create(name="acme", owner=admin_user, level=GroupLevel.ORGANIZATION)
    admin, alice = client_for(admin_user), client_for(user)
    assert alice.get(f"{BASE}/organization-namespace").json() == {"namespace": "acme"}
    assert create(alice, "Company", namespace="acme").status_code == 403
    kb = create(admin, "Company", namespace="acme").json()
    assert [i["id"] for i in alice.get(BASE, {"scope": "organization"}).json()["items"]] == [kb["id"]]
    assert alice.get(f"{BASE}/{kb['id']}").status_code == 200
    assert alice.put(f"{BASE}/{kb['id']}", {"name": "Mine"}, format="json").status_code == 403
    assert admin.put(f"{BASE}/{kb['id']}", {"description": "all staff"}, format="json").status_code == 200
