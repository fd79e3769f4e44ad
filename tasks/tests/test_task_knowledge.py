"""Knowledge bases bound to a group chat (``/api/tasks/{id}/knowledge-bases``)."""

from __future__ import annotations

import pytest

from kinds.models import Kind
from tasks.models import TaskResource
from tasks.services import members
from tasks.tests.factories import reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


def make_kb(owner, name: str, namespace: str = "default", display: str | None = None) -> Kind:  # type: ignore[no-untyped-def]
    return Kind.objects.create(
        owner=owner,
        kind="KnowledgeBase",
        namespace=namespace,
        name=name,
        document={
            "apiVersion": "agent.wecode.io/v1",
            "kind": "KnowledgeBase",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"name": display or name.upper(), "description": f"about {name}"},
        },
    )


@pytest.fixture
def group(user, team, make_task):  # type: ignore[no-untyped-def]
    return make_task(user, team, is_group_chat=True).task


@pytest.fixture
def member(make_user, user, group):  # type: ignore[no-untyped-def]
    carol = make_user("carol")
    members.add_member(actor=user, task_id=group.pk, user_id=carol.pk)
    return carol


@pytest.fixture
def kb(user):  # type: ignore[no-untyped-def]
    return make_kb(user, "kb1", display="Docs")


def refs(task: TaskResource) -> list:
    return reload(task).spec.get("knowledgeBaseRefs") or []


def test_bind_list_and_unbind(api, user, group, kb):
    response = api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    assert response.status_code == 200, response.content
    item = response.json()
    assert item == {
        "id": kb.pk,
        "name": "kb1",
        "namespace": "default",
        "display_name": "Docs",
        "description": "about kb1",
        "document_count": 0,
        "bound_by": "alice",
        "bound_at": item["bound_at"],
    }
    assert item["bound_at"]
    stored = refs(group)
    assert stored == [
        {"id": kb.pk, "name": "kb1", "namespace": "default", "boundBy": "alice", "boundAt": item["bound_at"]}
    ]
    listed = api.get(f"/api/tasks/{group.pk}/knowledge-bases").json()
    assert listed == {"items": [item], "total": 1, "max_limit": 10}
    removed = api.delete(f"/api/tasks/{group.pk}/knowledge-bases/kb1")
    assert removed.status_code == 200
    assert removed.json() == {
        "message": "Knowledge base unbound successfully",
        "kb_name": "kb1",
        "kb_namespace": "default",
    }
    assert refs(group) == []
    assert api.get(f"/api/tasks/{group.pk}/knowledge-bases").json()["total"] == 0


def test_members_may_bind_their_own_knowledge_bases(client_for, group, member):
    theirs = make_kb(member, "carol-kb")
    client = client_for(member)
    response = client.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "carol-kb"}, format="json")
    assert response.status_code == 200 and response.json()["bound_by"] == "carol"
    assert client.get(f"/api/tasks/{group.pk}/knowledge-bases").json()["items"][0]["id"] == theirs.pk
    assert client.delete(f"/api/tasks/{group.pk}/knowledge-bases/carol-kb").status_code == 200


def test_a_knowledge_base_the_caller_cannot_read_is_not_found(client_for, group, member, kb):
    response = client_for(member).post(
        f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json"
    )
    assert response.status_code == 404 and response.json()["detail"] == "Knowledge base not found"
    assert refs(group) == []


def test_strangers_and_anonymous_are_refused(client_for, anon_client, other_user, group, kb):
    stranger = client_for(other_user)
    make_kb(other_user, "kb1")
    assert stranger.get(f"/api/tasks/{group.pk}/knowledge-bases").status_code == 404
    post = stranger.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    assert post.status_code == 404 and post.json() == {"detail": "Task not found"}
    assert stranger.delete(f"/api/tasks/{group.pk}/knowledge-bases/kb1").status_code == 404
    assert anon_client.get(f"/api/tasks/{group.pk}/knowledge-bases").status_code == 401
    assert (
        anon_client.post(
            f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json"
        ).status_code
        == 401
    )
    assert anon_client.delete(f"/api/tasks/{group.pk}/knowledge-bases/kb1").status_code == 401
    assert refs(group) == []


def test_bind_refusals_write_nothing(api, user, team, make_task, group, kb):
    task = make_task(user, team).task
    not_group = api.post(f"/api/tasks/{task.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    assert not_group.status_code == 400 and not_group.json()["detail"] == "This task is not a group chat"
    missing = api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "nope"}, format="json")
    assert missing.status_code == 404 and missing.json()["detail"] == "Knowledge base not found"
    assert_validation_error(api.post(f"/api/tasks/{group.pk}/knowledge-bases", {}, format="json"), "kb_name")
    assert_validation_error(
        api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": ["x"]}, format="json"), "kb_name"
    )
    assert api.post("/api/tasks/999999/knowledge-bases", {"kb_name": "kb1"}, format="json").status_code == 404
    assert refs(group) == [] and refs(task) == []
    assert (
        api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json").status_code
        == 200
    )
    duplicate = api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    assert duplicate.status_code == 400 and duplicate.json()["detail"] == "Knowledge base is already bound"
    assert len(refs(group)) == 1


def test_at_most_ten_knowledge_bases(api, user, group):
    for index in range(11):
        make_kb(user, f"kb-{index}")
    for index in range(10):
        response = api.post(
            f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": f"kb-{index}"}, format="json"
        )
        assert response.status_code == 200
    eleventh = api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb-10"}, format="json")
    assert (
        eleventh.status_code == 400
        and eleventh.json()["detail"] == "Cannot bind more than 10 knowledge bases"
    )
    assert len(refs(group)) == 10
    assert api.get(f"/api/tasks/{group.pk}/knowledge-bases").json()["total"] == 10


def test_unbind_by_id_and_unknown_bindings(api, group, kb):
    api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    unknown = api.delete(f"/api/tasks/{group.pk}/knowledge-bases/other")
    assert (
        unknown.status_code == 404 and unknown.json()["detail"] == "Knowledge base is not bound to this task"
    )
    wrong_namespace = api.delete(f"/api/tasks/{group.pk}/knowledge-bases/kb1?kb_namespace=team-x")
    assert wrong_namespace.status_code == 404
    assert_validation_error(api.delete(f"/api/tasks/{group.pk}/knowledge-bases/kb1?kb_id=x"), "kb_id")
    assert len(refs(group)) == 1
    by_id = api.delete(f"/api/tasks/{group.pk}/knowledge-bases/renamed?kb_id={kb.pk}")
    assert by_id.status_code == 200 and refs(group) == []


def test_list_skips_deleted_knowledge_bases_and_resolves_old_refs(api, user, group, kb):
    gone = make_kb(user, "gone")
    api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "kb1"}, format="json")
    api.post(f"/api/tasks/{group.pk}/knowledge-bases", {"kb_name": "gone"}, format="json")
    gone.is_active = False
    gone.save()
    # A ref written without an id (older documents) is found by name.
    task = reload(group)
    spec_refs = [*task.spec["knowledgeBaseRefs"], {"name": "legacy", "namespace": "default"}]
    make_kb(user, "legacy")
    task.document["spec"]["knowledgeBaseRefs"] = spec_refs
    task.save(update_fields=["document", "updated_at"])
    items = api.get(f"/api/tasks/{group.pk}/knowledge-bases").json()["items"]
    assert [item["name"] for item in items] == ["kb1", "legacy"]
    assert items[1]["bound_by"] == "Unknown" and items[1]["bound_at"] == ""
