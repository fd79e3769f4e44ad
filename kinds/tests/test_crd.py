"""The generic Kind API: /api/v1/namespaces/{namespace}/{kinds}[/{name}]."""

from __future__ import annotations

import pytest

from kinds.models import Kind
from kinds.tests.factories import bot_doc, ghost_doc, model_doc, shell_doc, team_doc
from wegent import crypto

pytestmark = pytest.mark.django_db

BASE = "/api/v1/namespaces/default"


def test_create_ghost_returns_normalised_document(api):
    body = {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Ghost",
        "metadata": {"name": "bench-ghost", "namespace": "default"},
        "spec": {"systemPrompt": "You are a helpful assistant.", "mcpServers": {}, "unknownKey": 1},
    }
    response = api.post(f"{BASE}/ghosts", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Ghost",
        "metadata": {
            "name": "bench-ghost",
            "namespace": "default",
            "displayName": None,
            "labels": None,
            "resourceVersion": "1",
        },
        "spec": {
            "systemPrompt": "You are a helpful assistant.",
            "mcpServers": {},
            "skills": None,
            "preload_skills": None,
        },
        "status": {"state": "Available", "message": None},
    }


def test_list_get_update_delete(api, user):
    api.post(f"{BASE}/ghosts", ghost_doc("g1"), format="json")
    listing = api.get(f"{BASE}/ghosts").json()
    assert listing["apiVersion"] == "agent.wecode.io/v1"
    assert listing["kind"] == "GhostList"
    assert [item["metadata"]["name"] for item in listing["items"]] == ["g1"]

    assert api.get(f"{BASE}/ghosts/g1").json()["spec"]["systemPrompt"] == "You are helpful."
    updated = api.put(f"{BASE}/ghosts/g1", ghost_doc("ignored-name", "You are terse."), format="json")
    assert updated.status_code == 200
    assert updated.json()["metadata"]["name"] == "g1"  # the URL decides the name
    assert updated.json()["metadata"]["resourceVersion"] == "2"
    assert updated.json()["spec"]["systemPrompt"] == "You are terse."

    deleted = api.delete(f"{BASE}/ghosts/g1")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Successfully deleted resource 'g1'"}
    missing = api.get(f"{BASE}/ghosts/g1")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Ghost 'g1' not found in namespace 'default'"}


def test_put_unchanged_keeps_the_version(api):
    api.post(f"{BASE}/ghosts", ghost_doc("same"), format="json")
    again = api.put(f"{BASE}/ghosts/same", ghost_doc("same"), format="json")
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == "1"


def test_stale_resource_version_is_409(api):
    api.post(f"{BASE}/ghosts", ghost_doc("v"), format="json")
    current = api.get(f"{BASE}/ghosts/v").json()
    current["spec"]["systemPrompt"] = "first writer"
    assert api.put(f"{BASE}/ghosts/v", current, format="json").status_code == 200
    current["spec"]["systemPrompt"] = "second writer, stale"
    stale = api.put(f"{BASE}/ghosts/v", current, format="json")
    assert stale.status_code == 409
    assert "resourceVersion 1 is stale" in stale.json()["detail"]
    assert Kind.objects.get(name="v").document["spec"]["systemPrompt"] == "first writer"
    # Without a resourceVersion (as the reference's clients send) the write goes through.
    del current["metadata"]["resourceVersion"]
    assert api.put(f"{BASE}/ghosts/v", current, format="json").status_code == 200


def test_error_texts(api):
    api.post(f"{BASE}/ghosts", ghost_doc("dup"), format="json")
    duplicate = api.post(f"{BASE}/ghosts", ghost_doc("dup"), format="json")
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "Ghost 'dup' already exists"}

    unknown = api.get(f"{BASE}/widgets")
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith(
        "Invalid resource type: widgets. Valid options: ghosts, models"
    )

    invalid = api.post(f"{BASE}/ghosts", {"metadata": {"name": "bad"}, "spec": {}}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["detail"].startswith("Invalid Ghost resource: ")
    assert "spec.systemPrompt" in invalid.json()["detail"]

    assert api.put(f"{BASE}/ghosts/nope", ghost_doc("nope"), format="json").json() == {
        "detail": "Ghost 'nope' not found"
    }
    assert api.delete(f"{BASE}/ghosts/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ({}, 400),
        ([{"kind": "Ghost"}], 422),
        ("just a string", 422),
        ({"metadata": "nope", "spec": {"systemPrompt": "x"}}, 400),
        ({"metadata": {"name": "bad name!"}, "spec": {"systemPrompt": "x"}}, 400),
        ({"metadata": {"name": "x" * 101}, "spec": {"systemPrompt": "x"}}, 400),
        ({"kind": "Bot", "metadata": {"name": "ok"}, "spec": {"systemPrompt": "x"}}, 400),
        ({"metadata": {"name": "ok"}, "spec": {"systemPrompt": ["not", "a", "string"]}}, 400),
    ],
)
def test_bad_input_is_a_clear_4xx_and_writes_nothing(api, body, status):
    response = api.post(f"{BASE}/ghosts", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert Kind.objects.count() == 0


def test_malformed_json_and_yaml(api):
    broken = api.post(f"{BASE}/ghosts", "{oops", content_type="application/json")
    assert broken.status_code == 422
    yaml_ok = api.post(
        f"{BASE}/ghosts",
        "kind: Ghost\nmetadata:\n  name: from-yaml\nspec:\n  systemPrompt: hi\n",
        content_type="application/yaml",
    )
    assert yaml_ok.status_code == 201, yaml_ok.content
    yaml_bad = api.post(f"{BASE}/ghosts", "kind: [unclosed", content_type="application/yaml")
    assert yaml_bad.status_code == 422
    assert Kind.objects.filter(kind="Ghost").count() == 1


def test_unauthenticated(anon_client):
    assert anon_client.get(f"{BASE}/ghosts").status_code == 401
    assert anon_client.post(f"{BASE}/ghosts", ghost_doc("x"), format="json").status_code == 401
    assert anon_client.delete(f"{BASE}/ghosts/x").status_code == 401


def test_other_users_objects_are_invisible(client_for, user, other_user, make_kind):
    make_kind(other_user, ghost_doc("bobs"))
    alice = client_for(user)
    assert alice.get(f"{BASE}/ghosts").json()["items"] == []
    assert alice.get(f"{BASE}/ghosts/bobs").status_code == 404
    assert alice.put(f"{BASE}/ghosts/bobs", ghost_doc("bobs", "hijack"), format="json").status_code == 404
    assert alice.delete(f"{BASE}/ghosts/bobs").status_code == 404
    # Alice may use the same name in her own space.
    assert alice.post(f"{BASE}/ghosts", ghost_doc("bobs"), format="json").status_code == 201
    assert (
        Kind.objects.get(name="bobs", owner=other_user).document["spec"]["systemPrompt"] == "You are helpful."
    )


def test_public_rows_are_not_listed_but_resolve(api, user, admin_user, make_kind):
    make_kind(admin_user, shell_doc("Chat"), public=True)
    assert api.get(f"{BASE}/shells").json()["items"] == []
    assert api.get(f"{BASE}/shells/Chat").status_code == 404
    api.post(f"{BASE}/ghosts", ghost_doc("g"), format="json")
    bot = api.post(f"{BASE}/bots", bot_doc("b", "g", "Chat"), format="json")
    assert bot.status_code == 201, bot.content


def test_reference_checks(api, make_kind, user):
    missing_ghost = api.post(f"{BASE}/bots", bot_doc("b", "no-ghost", "no-shell"), format="json")
    assert missing_ghost.status_code == 404
    assert missing_ghost.json() == {"detail": "Ghost 'no-ghost' not found in namespace 'default'"}
    api.post(f"{BASE}/ghosts", ghost_doc("g"), format="json")
    missing_shell = api.post(f"{BASE}/bots", bot_doc("b", "g", "no-shell"), format="json")
    assert missing_shell.json() == {"detail": "Shell 'no-shell' not found in namespace 'default'"}
    missing_bot = api.post(f"{BASE}/teams", team_doc("t", ["ghost-bot"]), format="json")
    assert missing_bot.json() == {"detail": "Bot 'ghost-bot' not found in namespace 'default'"}
    skills = api.post(f"{BASE}/ghosts", ghost_doc("gs", skills=["a", "b"]), format="json")
    assert skills.status_code == 404
    assert skills.json() == {"detail": "The following Skills do not exist: a, b"}
    assert not Kind.objects.filter(kind__in=["Bot", "Team"]).exists()


def test_delete_with_referrers_is_refused(api, user, bot_stack):
    bot_stack(user)
    refused = api.delete(f"{BASE}/ghosts/s-ghost")
    assert refused.status_code == 409
    body = refused.json()
    assert "still referenced" in body["detail"]
    assert body["referrers"] == [{"kind": "Bot", "namespace": "default", "name": "s-bot"}]
    assert api.delete(f"{BASE}/bots/s-bot").status_code == 409  # the team uses it
    assert api.delete(f"{BASE}/teams/s-team").status_code == 200
    assert api.delete(f"{BASE}/bots/s-bot").status_code == 200
    assert api.delete(f"{BASE}/ghosts/s-ghost").status_code == 200


def test_model_secret_is_encrypted_masked_and_kept(api):
    created = api.post(f"{BASE}/models", model_doc("m", api_key="sk-live-secret-123456"), format="json")
    assert created.status_code == 201
    env = created.json()["spec"]["modelConfig"]["env"]
    assert env["api_key"] == "****3456"
    stored = Kind.objects.get(name="m").document["spec"]["modelConfig"]["env"]["api_key"]
    assert "sk-live-secret" not in stored
    assert crypto.decrypt(stored) == "sk-live-secret-123456"

    # Sending the mask back (as the settings page does) keeps the stored key.
    document = api.get(f"{BASE}/models/m").json()
    document["spec"]["contextWindow"] = 8000
    assert api.put(f"{BASE}/models/m", document, format="json").status_code == 200
    kept = Kind.objects.get(name="m").document["spec"]["modelConfig"]["env"]["api_key"]
    assert crypto.decrypt(kept) == "sk-live-secret-123456"

    document["spec"]["modelConfig"]["env"]["api_key"] = "sk-new-key-abcdefgh"
    document.pop("metadata")["resourceVersion"]
    document["metadata"] = {"name": "m"}
    assert (
        api.put(f"{BASE}/models/m", document, format="json").json()["spec"]["modelConfig"]["env"]["api_key"]
        == "****efgh"
    )
    for response in (api.get(f"{BASE}/models"), api.get(f"{BASE}/models/m")):
        assert "sk-new-key" not in response.content.decode()


def test_retriever_secrets_and_status_less_shape(api):
    body = {
        "kind": "Retriever",
        "metadata": {"name": "es"},
        "spec": {
            "storageConfig": {
                "type": "elasticsearch",
                "url": "http://127.0.0.1:9200",
                "username": "elastic",
                "password": "es-password-123456",
                "indexStrategy": {"mode": "per_user"},
            }
        },
    }
    created = api.post(f"{BASE}/retrievers", body, format="json")
    assert created.status_code == 201, created.content
    out = created.json()
    assert "status" not in out
    assert out["spec"]["storageConfig"]["password"] == "****3456"
    assert out["spec"]["retrievalMethods"]["vector"] == {"enabled": True, "defaultWeight": 0.7}
    bad = api.post(
        f"{BASE}/retrievers",
        {
            **body,
            "metadata": {"name": "bad"},
            "spec": {"storageConfig": {**body["spec"]["storageConfig"], "type": "milvus"}},
        },
        format="json",
    )
    assert bad.status_code == 400  # the reference answers 500 here


def test_device_default_is_unique(api):
    for name, device in (("d1", "dev-1"), ("d2", "dev-2")):
        body = {"kind": "Device", "metadata": {"name": name}, "spec": {"deviceId": device, "isDefault": True}}
        assert api.post(f"{BASE}/devices", body, format="json").status_code == 201
    defaults = {
        d["metadata"]["name"]: d["spec"]["isDefault"] for d in api.get(f"{BASE}/devices").json()["items"]
    }
    assert defaults == {"d1": False, "d2": True}


def test_shell_runtime_alias(api):
    response = api.post(
        f"{BASE}/shells", {"metadata": {"name": "s"}, "spec": {"runtime": "ClaudeCode"}}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["spec"]["shellType"] == "ClaudeCode"


def test_skills_are_read_only_through_the_generic_route(api):
    response = api.post(
        f"{BASE}/skills", {"metadata": {"name": "s"}, "spec": {"description": "d"}}, format="json"
    )
    assert response.status_code == 400
    assert "upload" in response.json()["detail"]
    assert api.get(f"{BASE}/skills").json()["kind"] == "SkillList"


def test_uniqueness_is_enforced_by_the_database(user):
    from django.db import IntegrityError, transaction

    Kind.objects.create(owner=user, kind="Ghost", namespace="default", name="twin", document={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Kind.objects.create(owner=user, kind="Ghost", namespace="default", name="twin", document={})
    # A soft-deleted row does not block the name.
    row = Kind.objects.get(name="twin")
    row.is_active = False
    row.save()
    Kind.objects.create(owner=user, kind="Ghost", namespace="default", name="twin", document={})
    assert Kind.objects.filter(name="twin").count() == 2


def test_text_the_database_cannot_store_is_400(api):
    import json

    for bad in ("nul \x00 char", "lone \ud800 surrogate"):
        # json.dumps escapes both, as a client would send them on the wire.
        response = api.post(
            f"{BASE}/ghosts", json.dumps(ghost_doc("g", bad)), content_type="application/json"
        )
        assert response.status_code == 400, response.content
        assert response.json()["detail"].startswith("Invalid Ghost resource: text contains")
    assert not Kind.objects.exists()


def test_fast_list_matches_the_orm_scope(api, user, other_user, admin_user, make_kind):
    """The hand-written list query selects exactly what scoped_rows selects."""
    from kinds import selectors

    make_kind(user, ghost_doc("mine-b"))
    make_kind(user, ghost_doc("mine-a"))
    make_kind(other_user, ghost_doc("theirs"))
    make_kind(admin_user, ghost_doc("public"), public=True)
    row = make_kind(user, ghost_doc("gone"))
    row.is_active = False
    row.save()
    fast = [i["metadata"]["name"] for i in selectors.list_rendered(user, "Ghost", "default")["items"]]
    orm = [r.name for r in selectors.scoped_rows(user, "Ghost", "default").order_by("id")]
    assert fast == orm == ["mine-b", "mine-a"]
    public = selectors.list_rendered(None, "Ghost", "default")["items"]
    assert [i["metadata"]["name"] for i in public] == ["public"]
