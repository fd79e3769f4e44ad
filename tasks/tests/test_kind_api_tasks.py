"""Task and Workspace through the Kind API: documents, messages, updates, deletes, groups, batches."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Group, GroupMember
from accounts.roles import GroupRole
from kinds.tests.openapi import body_schema, errors_against, served_schema
from tasks import statuses
from tasks.models import TASK, WORKSPACE, Subtask, TaskResource
from tasks.tests.factories import complete

pytestmark = pytest.mark.django_db

BASE = "/api/v1/namespaces/default"
SUBTASK_KEYS = {
    "title",
    "role",
    "bot_ids",
    "executor_namespace",
    "executor_name",
    "status",
    "progress",
    "result",
    "errorMessage",
    "messageId",
    "parentId",
    "createdAt",
    "updatedAt",
    "completedAt",
}


def workspace_doc(name: str = "ws", repo: str = "acme/app") -> dict[str, Any]:
    return {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {
            "repository": {
                "gitUrl": f"https://git.example.com/{repo}.git",
                "gitRepo": repo,
                "branchName": "main",
                "gitDomain": "git.example.com",
            }
        },
    }


def task_doc(
    name: str = "job",
    *,
    prompt: str = "Fix the bug",
    team: str = "t-team",
    workspace: str = "ws",
    namespace: str = "default",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Task",
        "metadata": {"name": name, "labels": {"type": "offline", "taskType": "code"}},
        "spec": {
            "title": f"{name} title",
            "prompt": prompt,
            "teamRef": {"name": team, "namespace": namespace},
            "workspaceRef": {"name": workspace, "namespace": namespace},
            **spec,
        },
    }


def answer_of(task_name: str) -> Subtask:
    return (
        Subtask.objects.filter(task__name=task_name, role=Subtask.ASSISTANT).order_by("-message_id").first()
    )


@pytest.fixture
def job(api, team):  # type: ignore[no-untyped-def]
    """Alice's workspace "ws" and task "job" made through the Kind API; returns the task body."""
    assert api.post(f"{BASE}/workspaces", workspace_doc(), format="json").status_code == 201
    created = api.post(f"{BASE}/tasks", task_doc(), format="json")
    assert created.status_code == 201, created.content
    return created.json()


# --- create, read, list ---------------------------------------------------------------------------


def test_workspace_document_is_normalised(api):
    body = workspace_doc()
    body["spec"]["repository"]["unknown"] = "dropped"
    body["spec"]["extra"] = 1
    created = api.post(f"{BASE}/workspaces", body, format="json")
    assert created.status_code == 201, created.content
    document = created.json()
    assert document == {
        "apiVersion": "agent.wecode.io/v1",
        "kind": "Workspace",
        "metadata": {
            "name": "ws",
            "namespace": "default",
            "displayName": None,
            "labels": None,
            "resourceVersion": "1",
        },
        "spec": {
            "repository": {
                "gitUrl": "https://git.example.com/acme/app.git",
                "gitRepo": "acme/app",
                "gitRepoId": None,
                "branchName": "main",
                "gitDomain": "git.example.com",
            }
        },
        "status": {"state": "Available", "message": None},
    }
    assert api.get(f"{BASE}/workspaces/ws").json() == document
    listing = api.get(f"{BASE}/workspaces").json()
    assert listing == {"apiVersion": "agent.wecode.io/v1", "kind": "WorkspaceList", "items": [document]}
    assert (
        TaskResource.objects.get(kind=WORKSPACE, name="ws").document["spec"]["repository"].get("unknown")
        is None
    )


def test_task_and_workspace_bodies_fit_the_openapi_document(api, job):
    schema = served_schema()
    for plural, name, sent in (("workspaces", "ws", workspace_doc()), ("tasks", "job", task_doc())):
        path = f"/api/v1/namespaces/{{namespace}}/{plural}"
        assert errors_against(schema, body_schema(schema, path, "post"), sent) == []
        listing = api.get(f"{BASE}/{plural}").json()
        assert errors_against(schema, body_schema(schema, path, "get", "200"), listing) == []
        one = api.get(f"{BASE}/{plural}/{name}").json()
        assert errors_against(schema, body_schema(schema, f"{path}/{{name}}", "get", "200"), one) == []
    assert errors_against(schema, body_schema(schema, path, "post", "201"), job) == []


def test_create_task_starts_a_turn(api, user, team, job):
    assert job["kind"] == "Task"
    assert job["metadata"]["name"] == "job"
    assert job["metadata"]["resourceVersion"] == "1"
    assert job["metadata"]["labels"] == {"type": "offline", "taskType": "code"}
    spec = job["spec"]
    assert spec["prompt"] == "Fix the bug"
    assert spec["teamRef"] == {"name": "t-team", "namespace": "default", "user_id": user.pk}
    assert spec["knowledgeBaseRefs"] is None and spec["device_id"] is None
    status = job["status"]
    assert status["status"] == statuses.PENDING and status["progress"] == 0
    assert status["createdAt"] and status["app"] is None
    user_msg, answer = status["subTasks"]
    assert set(user_msg) == SUBTASK_KEYS
    assert (user_msg["role"], user_msg["messageId"], user_msg["parentId"]) == ("USER", 1, 0)
    assert (answer["role"], answer["messageId"], answer["status"]) == ("ASSISTANT", 2, statuses.PENDING)
    assert answer["title"] == "job title - Assistant"
    assert isinstance(answer["createdAt"], str)
    task = TaskResource.objects.get(kind=TASK, name="job")
    assert task.owner == user and task.status == statuses.PENDING
    assert list(task.subtasks.values_list("prompt", flat=True)) == ["Fix the bug", ""]
    assert api.get(f"{BASE}/tasks/job").json() == job


def test_body_status_is_ignored_and_unknown_keys_dropped(api, team):
    api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    body = task_doc(extra="dropped")
    body["status"] = {"status": "COMPLETED", "progress": 100, "subTasks": [{"x": 1}]}
    document = api.post(f"{BASE}/tasks", body, format="json").json()
    assert "extra" not in document["spec"]
    assert document["status"]["status"] == statuses.PENDING
    assert len(document["status"]["subTasks"]) == 2
    assert TaskResource.objects.get(name="job").status == statuses.PENDING


def test_list_shows_each_tasks_messages_in_a_fixed_number_of_queries(api, team, job):
    with CaptureQueriesContext(connection) as one:
        listing = api.get(f"{BASE}/tasks")
    assert listing.status_code == 200
    assert listing.json()["kind"] == "TaskList"
    for index in range(3):
        api.post(f"{BASE}/tasks", task_doc(f"more-{index}", prompt=f"p{index}"), format="json")
    with CaptureQueriesContext(connection) as four:
        listing = api.get(f"{BASE}/tasks")
    items = listing.json()["items"]
    assert [item["metadata"]["name"] for item in items] == ["job", "more-0", "more-1", "more-2"]
    assert [item["status"]["subTasks"][0]["title"] for item in items] == [
        "job title - User",
        "more-0 title - User",
        "more-1 title - User",
        "more-2 title - User",
    ]
    assert len(four.captured_queries) == len(one.captured_queries)


def test_tasks_made_by_the_rest_route_show_too(api, user, team, make_task):
    turn = make_task(user, team, prompt="from chat")
    document = api.get(f"{BASE}/tasks/task-{turn.task.pk}").json()
    assert document["spec"]["prompt"] == "from chat"
    assert [s["status"] for s in document["status"]["subTasks"]] == [statuses.COMPLETED, statuses.COMPLETED]
    assert api.get(f"{BASE}/workspaces/workspace-{turn.task.pk}").status_code == 200


# --- update ---------------------------------------------------------------------------------------


def test_update_needs_a_completed_task(api, job):
    body = task_doc(prompt="Now do more")
    refused = api.put(f"{BASE}/tasks/job", body, format="json")
    assert refused.status_code == 404
    assert refused.json() == {
        "detail": "Task 'job' in namespace 'default' cannot be modified when status is 'PENDING'. "
        "Only COMPLETED tasks can be updated."
    }
    assert Subtask.objects.filter(task__name="job").count() == 2

    complete(answer_of("job"), "done")
    updated = api.put(f"{BASE}/tasks/job", body, format="json")
    assert updated.status_code == 200, updated.content
    document = updated.json()
    assert document["metadata"]["resourceVersion"] == "2"
    assert document["spec"]["prompt"] == "Now do more"
    assert document["status"]["status"] == statuses.PENDING
    assert document["status"]["completedAt"] is None
    assert [s["messageId"] for s in document["status"]["subTasks"]] == [1, 2, 3, 4]
    assert document["status"]["subTasks"][2]["role"] == "USER"
    task = TaskResource.objects.get(name="job")
    assert task.status == statuses.PENDING and task.spec["prompt"] == "Now do more"


def test_same_document_is_unchanged_and_starts_nothing(api, job):
    again = api.put(f"{BASE}/tasks/job", task_doc(), format="json")
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == "1"
    assert Subtask.objects.filter(task__name="job").count() == 2


def test_stale_resource_version_is_409(api, job):
    complete(answer_of("job"), "done")
    body = task_doc(prompt="second")
    body["metadata"]["resourceVersion"] = "1"
    assert api.put(f"{BASE}/tasks/job", body, format="json").status_code == 200
    complete(answer_of("job"), "done again")
    body["spec"]["prompt"] = "third"
    stale = api.put(f"{BASE}/tasks/job", body, format="json")
    assert stale.status_code == 409
    assert "resourceVersion 1 is stale" in stale.json()["detail"]
    assert TaskResource.objects.get(name="job").spec["prompt"] == "second"


def test_put_forces_the_url_name(api, job):
    complete(answer_of("job"), "done")
    response = api.put(f"{BASE}/tasks/job", task_doc("renamed", prompt="again"), format="json")
    assert response.status_code == 200
    assert response.json()["metadata"]["name"] == "job"
    assert not TaskResource.objects.filter(name="renamed").exists()


def test_workspace_update(api):
    api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    updated = api.put(f"{BASE}/workspaces/ws", workspace_doc(repo="acme/other"), format="json")
    assert updated.status_code == 200
    assert updated.json()["metadata"]["resourceVersion"] == "2"
    assert updated.json()["spec"]["repository"]["gitRepo"] == "acme/other"
    unchanged = api.put(f"{BASE}/workspaces/ws", workspace_doc(repo="acme/other"), format="json")
    assert unchanged.json()["metadata"]["resourceVersion"] == "2"
    missing = api.put(f"{BASE}/workspaces/nope", workspace_doc("nope"), format="json")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Workspace 'nope' not found"}


# --- errors ---------------------------------------------------------------------------------------


def test_duplicate_names_are_409(api, job):
    duplicate = api.post(f"{BASE}/tasks", task_doc(), format="json")
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "Task 'job' already exists"}
    again = api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    assert again.json() == {"detail": "Workspace 'ws' already exists"}
    assert TaskResource.objects.filter(kind=TASK).count() == 1


def test_references_must_resolve(api, team):
    api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    no_team = api.post(f"{BASE}/tasks", task_doc(team="nope"), format="json")
    assert no_team.status_code == 404
    assert no_team.json() == {"detail": "Team 'nope' not found in namespace 'default'"}
    no_workspace = api.post(f"{BASE}/tasks", task_doc(workspace="nope"), format="json")
    assert no_workspace.status_code == 404
    assert no_workspace.json() == {"detail": "Workspace 'nope' not found in namespace 'default'"}
    assert not TaskResource.objects.filter(kind=TASK).exists()
    assert not Subtask.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ({}, 400),
        ("text", 422),
        ({"metadata": {"name": "job"}, "spec": {"title": "t"}}, 400),
        ({"metadata": {"name": "bad name!"}, "spec": {}}, 400),
        ({"kind": "Workspace", "metadata": {"name": "job"}, "spec": {}}, 400),
    ],
)
def test_bad_documents_are_4xx_and_write_nothing(api, team, body, status):
    api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    response = api.post(f"{BASE}/tasks", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert not TaskResource.objects.filter(kind=TASK).exists()


def test_invalid_task_text(api, team):
    api.post(f"{BASE}/workspaces", workspace_doc(), format="json")
    body = task_doc()
    del body["spec"]["prompt"]
    response = api.post(f"{BASE}/tasks", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid Task resource: ")
    assert "spec.prompt" in response.json()["detail"]
    too_long = api.post(f"{BASE}/tasks", task_doc(prompt="x" * 60001), format="json")
    assert too_long.status_code == 400
    assert not TaskResource.objects.filter(kind=TASK).exists()


def test_unknown_kind_lists_the_reference_order(api):
    response = api.get(f"{BASE}/widgets")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "Invalid resource type: widgets. Valid options: "
        "ghosts, models, shells, bots, teams, workspaces, tasks, retrievers, devices"
    )


def test_unauthenticated(anon_client):
    assert anon_client.get(f"{BASE}/tasks").status_code == 401
    assert anon_client.post(f"{BASE}/tasks", task_doc(), format="json").status_code == 401
    assert anon_client.delete(f"{BASE}/workspaces/ws").status_code == 401


def test_other_users_tasks_are_invisible(api, client_for, other_user, job):
    bob = client_for(other_user)
    assert bob.get(f"{BASE}/tasks").json()["items"] == []
    assert bob.get(f"{BASE}/tasks/job").json() == {"detail": "Task 'job' not found in namespace 'default'"}
    assert bob.put(f"{BASE}/tasks/job", task_doc(), format="json").json() == {
        "detail": "Task 'job' not found"
    }
    assert bob.delete(f"{BASE}/tasks/job").status_code == 404
    assert bob.delete(f"{BASE}/workspaces/ws").status_code == 404
    # Bob cannot use Alice's team or workspace either.
    assert bob.post(f"{BASE}/workspaces", workspace_doc("bob-ws"), format="json").status_code == 201
    refused = bob.post(f"{BASE}/tasks", task_doc("b", workspace="bob-ws"), format="json")
    assert refused.json() == {"detail": "Team 't-team' not found in namespace 'default'"}
    assert TaskResource.objects.get(name="job").is_active


# --- delete ---------------------------------------------------------------------------------------


def test_delete_is_soft_and_the_name_can_be_reused(api, job):
    deleted = api.delete(f"{BASE}/tasks/job")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Successfully deleted resource 'job'"}
    row = TaskResource.objects.get(kind=TASK, name="job")
    assert not row.is_active and row.status == statuses.DELETE
    assert set(row.subtasks.values_list("status", flat=True)) == {statuses.DELETE}
    assert api.get(f"{BASE}/tasks/job").status_code == 404
    assert api.get(f"{BASE}/tasks").json()["items"] == []
    again = api.post(f"{BASE}/tasks", task_doc(prompt="fresh start"), format="json")
    assert again.status_code == 201, again.content
    assert [s["messageId"] for s in again.json()["status"]["subTasks"]] == [1, 2]
    assert TaskResource.objects.filter(kind=TASK, name="job").count() == 2


def test_workspace_delete_is_refused_while_a_task_uses_it(api, job):
    refused = api.delete(f"{BASE}/workspaces/ws")
    assert refused.status_code == 409
    body = refused.json()
    assert body["detail"].startswith("Workspace 'ws' is still referenced by Task default/job")
    assert body["referrers"] == [{"kind": "Task", "namespace": "default", "name": "job"}]
    api.delete(f"{BASE}/tasks/job")
    assert api.delete(f"{BASE}/workspaces/ws").status_code == 200
    assert not TaskResource.objects.filter(kind=WORKSPACE).exists()
    assert api.delete(f"{BASE}/workspaces/ws").json() == {"detail": "Workspace 'ws' not found"}


# --- groups ---------------------------------------------------------------------------------------


@pytest.fixture
def crew(make_user, bot_stack):  # type: ignore[no-untyped-def]
    """Group "crew" (owner: a fresh user) with a team "g-team" and a workspace "ws" in it."""
    owner = make_user("crew-owner")
    group = Group.objects.create(name="crew", owner=owner)
    GroupMember.objects.create(group=group, user=owner, role=GroupRole.OWNER)
    bot_stack(owner, "g", namespace="crew")
    return group


ROLE_MATRIX = [
    (GroupRole.OWNER, True, True, True),
    (GroupRole.MAINTAINER, True, True, True),
    (GroupRole.DEVELOPER, True, True, False),
    (GroupRole.REPORTER, True, False, False),
    (None, False, False, False),
]


@pytest.mark.parametrize(("role", "can_read", "can_write", "can_delete"), ROLE_MATRIX)
def test_group_namespace_roles(client_for, user, crew, role, can_read, can_write, can_delete):
    owner_api = client_for(crew.owner)
    base = "/api/v1/namespaces/crew"
    assert owner_api.post(f"{base}/workspaces", workspace_doc(), format="json").status_code == 201
    shared = owner_api.post(
        f"{base}/tasks", task_doc("shared", team="g-team", namespace="crew"), format="json"
    )
    assert shared.status_code == 201, shared.content
    complete(answer_of("shared"), "done")
    if role:
        GroupMember.objects.create(group=crew, user=user, role=role)
    api = client_for(user)

    names = [item["metadata"]["name"] for item in api.get(f"{base}/tasks").json()["items"]]
    assert names == (["shared"] if can_read else [])
    assert api.get(f"{base}/tasks/shared").status_code == (200 if can_read else 404)

    created = api.post(f"{base}/tasks", task_doc("mine", team="g-team", namespace="crew"), format="json")
    assert created.status_code == (201 if can_write else 404), created.content
    if not can_write:
        assert created.json() == {"detail": "Namespace 'crew' not found or permission denied"}
    body = task_doc("shared", team="g-team", namespace="crew", prompt="follow-up")
    updated = api.put(f"{base}/tasks/shared", body, format="json")
    assert updated.status_code == (200 if can_write else 404), updated.content
    if not can_write:
        assert updated.json() == {"detail": "Task 'shared' not found or permission denied"}

    deleted = api.delete(f"{base}/tasks/shared")
    assert deleted.status_code == (200 if can_delete else 404)
    assert TaskResource.objects.get(kind=TASK, name="shared").is_active is (not can_delete)


def test_group_task_needs_a_readable_group_team(client_for, user, crew, team):
    GroupMember.objects.create(group=crew, user=user, role=GroupRole.DEVELOPER)
    api = client_for(user)
    base = "/api/v1/namespaces/crew"
    api.post(f"{base}/workspaces", workspace_doc(), format="json")
    # Alice's personal team is fine (she can read it); a team of another group is not.
    mine = task_doc("uses-mine", team="t-team", workspace="ws")
    mine["spec"]["workspaceRef"]["namespace"] = "crew"
    assert api.post(f"{base}/tasks", mine, format="json").status_code == 201
    GroupMember.objects.filter(group=crew, user=user).delete()
    assert api.get(f"{base}/tasks/uses-mine").status_code == 404


# --- batches --------------------------------------------------------------------------------------


def test_batch_apply_and_delete(api, team):
    items = [task_doc(), workspace_doc()]
    dry = api.post(f"{BASE}/apply?dryRun=true", items, format="json")
    assert dry.status_code == 200
    assert dry.json()["dryRun"] is True
    assert [(r["kind"], r["operation"]) for r in dry.json()["results"]] == [
        ("Workspace", "created"),
        ("Task", "created"),
    ]
    assert not TaskResource.objects.filter(kind__in=[TASK, WORKSPACE]).exists()
    assert not Subtask.objects.exists()

    applied = api.post(f"{BASE}/apply", items, format="json").json()
    assert applied["success"] is True and applied["message"] == "Applied 2/2 resources"
    assert Subtask.objects.filter(task__name="job").count() == 2

    again = api.post(f"{BASE}/apply", items, format="json").json()
    assert [r["operation"] for r in again["results"]] == ["unchanged", "unchanged"]

    changed = api.post(f"{BASE}/apply", [task_doc(prompt="more")], format="json").json()
    assert changed["success"] is False
    assert changed["results"][0]["operation"] == "failed"
    assert "Only COMPLETED tasks can be updated" in changed["results"][0]["error"]
    complete(answer_of("job"), "done")
    changed = api.post(f"{BASE}/apply", [task_doc(prompt="more")], format="json").json()
    assert changed["results"][0]["operation"] == "updated"
    assert Subtask.objects.filter(task__name="job").count() == 4

    dry_delete = api.post(f"{BASE}/delete?dryRun=true", items, format="json").json()
    assert [r["operation"] for r in dry_delete["results"]] == ["deleted", "deleted"]
    assert TaskResource.objects.get(name="job").is_active

    deleted = api.post(f"{BASE}/delete", items, format="json").json()
    assert deleted["message"] == "Deleted 2/2 resources"
    assert [r["kind"] for r in deleted["results"]] == ["Task", "Workspace"]
    assert not TaskResource.objects.get(name="job").is_active
    assert not TaskResource.objects.filter(kind=WORKSPACE).exists()


def test_batch_item_failures_are_isolated(api, team):
    items = [workspace_doc(), task_doc(team="nope"), task_doc("ok")]
    result = api.post(f"{BASE}/apply", items, format="json").json()
    assert [r["success"] for r in result["results"]] == [True, False, True]
    assert result["results"][1]["error"] == "Team 'nope' not found in namespace 'default'"
    assert list(TaskResource.objects.filter(kind=TASK).values_list("name", flat=True)) == ["ok"]
