"""``/api/projects``: per-user folders of tasks (reference extras §4 "Projects", rest §6).

The web frontend loads ``GET /api/projects?include_tasks=true`` on every page; the sidebar
reads ``{total, items}`` with each project's ``tasks`` and ``task_count``.
"""

from __future__ import annotations

import pytest

from tasks.models import Project, TaskResource
from tasks.services import lifecycle
from tasks.tests.factories import group_chat_with, make_project, reload

pytestmark = pytest.mark.django_db

PROJECT_KEYS = {
    "id", "user_id", "name", "description", "color", "sort_order", "is_expanded", "task_count",
    "created_at", "updated_at",
}  # fmt: skip
PROJECT_TASK_KEYS = {"task_id", "task_title", "task_status", "is_group_chat", "project_id", "updated_at"}


def _create(api, **body):  # type: ignore[no-untyped-def]
    response = api.post("/api/projects", {"name": "Work", **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _add(api, project_id: int, task_id: int):  # type: ignore[no-untyped-def]
    return api.post(f"/api/projects/{project_id}/tasks", {"task_id": task_id}, format="json")


# --- list and create ------------------------------------------------------------------------------


def test_empty_list_is_well_formed(api):
    response = api.get("/api/projects?include_tasks=true")
    assert response.status_code == 200
    assert response.json() == {"total": 0, "items": []}


def test_create_returns_the_project_and_appends_to_the_order(api, user):
    first = _create(api, description="day job", color="#FF5733")
    assert set(first) == PROJECT_KEYS
    assert first["name"] == "Work" and first["description"] == "day job" and first["color"] == "#FF5733"
    assert first["user_id"] == user.pk and first["task_count"] == 0 and first["is_expanded"] is True
    second = _create(api, name="Home")
    assert second["sort_order"] == first["sort_order"] + 1
    # Defaults: no description, no color.
    assert second["description"] == "" and second["color"] == ""
    assert Project.objects.filter(user=user, is_active=True).count() == 2


def test_list_with_tasks_ordered_by_sort_order_then_id(api, user, team, make_task):
    work, home, misc = _create(api), _create(api, name="Home"), _create(api, name="Misc")
    # Misc first, then Work and Home sharing an order (ties by id).
    api.put(f"/api/projects/{misc['id']}", {"sort_order": -1}, format="json")
    api.put(f"/api/projects/{home['id']}", {"sort_order": work["sort_order"]}, format="json")
    older, newer = make_task(user, team, prompt="older").task, make_task(user, team, prompt="newer").task
    assert _add(api, work["id"], older.pk).status_code == 201
    assert _add(api, work["id"], newer.pk).status_code == 201

    body = api.get("/api/projects?include_tasks=true").json()
    assert body["total"] == 3
    assert [item["id"] for item in body["items"]] == [misc["id"], work["id"], home["id"]]
    listed = body["items"][1]
    assert set(listed) == PROJECT_KEYS | {"tasks"}
    assert listed["task_count"] == 2
    # Most recently updated first, as the reference's sidebar shows them.
    assert [t["task_id"] for t in listed["tasks"]] == [newer.pk, older.pk]
    task = listed["tasks"][0]
    assert set(task) == PROJECT_TASK_KEYS
    assert task == {
        **task,
        "task_title": "newer",
        "task_status": "COMPLETED",
        "is_group_chat": False,
        "project_id": work["id"],
    }
    assert body["items"][0]["tasks"] == [] and body["items"][0]["task_count"] == 0

    # Without tasks: the same projects, counts still right, no task rows.
    lean = api.get("/api/projects?include_tasks=false").json()
    assert [(i["id"], i["task_count"], i["tasks"]) for i in lean["items"]] == [
        (misc["id"], 0, []),
        (work["id"], 2, []),
        (home["id"], 0, []),
    ]


def test_projects_are_per_user(api, client_for, user, other_user, team, make_task):
    mine = _create(api)
    theirs = make_project(other_user, name="Bob's")
    assert [i["id"] for i in api.get("/api/projects").json()["items"]] == [mine["id"]]
    bob = client_for(other_user)
    assert [i["id"] for i in bob.get("/api/projects").json()["items"]] == [theirs.pk]

    task = make_task(user, team).task
    for response in (
        api.get(f"/api/projects/{theirs.pk}"),
        api.put(f"/api/projects/{theirs.pk}", {"name": "mine now"}, format="json"),
        api.delete(f"/api/projects/{theirs.pk}"),
        _add(api, theirs.pk, task.pk),
        api.delete(f"/api/projects/{theirs.pk}/tasks/{task.pk}"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Project not found"}
    theirs.refresh_from_db()
    assert theirs.name == "Bob's" and theirs.is_active
    assert reload(task).project_id == 0


# --- detail, update, delete -----------------------------------------------------------------------


def test_detail_includes_tasks(api, user, team, make_task):
    project = _create(api)
    task = make_task(user, team, prompt="in it").task
    _add(api, project["id"], task.pk)
    response = api.get(f"/api/projects/{project['id']}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PROJECT_KEYS | {"tasks"}
    assert body["task_count"] == 1 and [t["task_id"] for t in body["tasks"]] == [task.pk]


def test_update_changes_only_the_given_fields(api, user, team, make_task):
    project = _create(api, description="keep me", color="red")
    task = make_task(user, team).task
    _add(api, project["id"], task.pk)
    response = api.put(
        f"/api/projects/{project['id']}",
        {"name": "Renamed", "is_expanded": False, "sort_order": 7, "unknown": "ignored"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == PROJECT_KEYS
    assert body["name"] == "Renamed" and body["is_expanded"] is False and body["sort_order"] == 7
    assert body["description"] == "keep me" and body["color"] == "red" and body["task_count"] == 1
    row = Project.objects.get(pk=project["id"])
    assert (row.name, row.is_expanded, row.sort_order, row.description) == ("Renamed", False, 7, "keep me")
    # null description/color clear them (the reference shows "" for both).
    cleared = api.put(f"/api/projects/{project['id']}", {"description": None, "color": None}, format="json")
    assert cleared.status_code == 200
    assert (cleared.json()["description"], cleared.json()["color"]) == ("", "")


def test_delete_is_soft_and_unassigns_its_tasks(api, user, team, make_task):
    project, other = _create(api), _create(api, name="Other")
    inside, elsewhere = make_task(user, team).task, make_task(user, team).task
    _add(api, project["id"], inside.pk)
    _add(api, other["id"], elsewhere.pk)

    response = api.delete(f"/api/projects/{project['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert reload(inside).project_id == 0 and reload(inside).is_active
    assert reload(elsewhere).project_id == other["id"]
    row = Project.objects.get(pk=project["id"])
    assert row.is_active is False
    assert [i["id"] for i in api.get("/api/projects").json()["items"]] == [other["id"]]
    for gone in (api.get(f"/api/projects/{project['id']}"), api.delete(f"/api/projects/{project['id']}")):
        assert gone.status_code == 404
    # The deleted folder takes no new tasks.
    assert _add(api, project["id"], inside.pk).status_code == 404
    assert reload(inside).project_id == 0


# --- tasks in a project ---------------------------------------------------------------------------


def test_add_and_remove_a_task(api, user, team, make_task):
    project = _create(api)
    task = make_task(user, team, prompt="folder me").task
    response = _add(api, project["id"], task.pk)
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Task added to project successfully"
    assert set(body["project_task"]) == PROJECT_TASK_KEYS
    assert body["project_task"]["task_id"] == task.pk and body["project_task"]["project_id"] == project["id"]
    assert body["project_task"]["task_title"] == "folder me"
    assert reload(task).project_id == project["id"]
    # Adding it again changes nothing.
    assert _add(api, project["id"], task.pk).status_code == 201
    assert api.get(f"/api/projects/{project['id']}").json()["task_count"] == 1

    removed = api.delete(f"/api/projects/{project['id']}/tasks/{task.pk}")
    assert removed.status_code == 200
    assert removed.json() == {"message": "Task removed from project successfully"}
    assert reload(task).project_id == 0
    again = api.delete(f"/api/projects/{project['id']}/tasks/{task.pk}")
    assert again.status_code == 404
    assert again.json() == {"detail": "Task not found in project"}


def test_a_task_is_in_at_most_one_project(api, user, team, make_task):
    first, second = _create(api), _create(api, name="Second")
    task = make_task(user, team).task
    _add(api, first["id"], task.pk)
    assert _add(api, second["id"], task.pk).status_code == 201
    assert reload(task).project_id == second["id"]
    items = {i["id"]: i for i in api.get("/api/projects?include_tasks=true").json()["items"]}
    assert items[first["id"]]["task_count"] == 0 and items[second["id"]]["task_count"] == 1
    # Removing it through the old folder is a 404: it is not there any more.
    assert api.delete(f"/api/projects/{first['id']}/tasks/{task.pk}").status_code == 404
    assert reload(task).project_id == second["id"]


def test_only_the_owner_can_file_a_task(api, client_for, user, other_user, team, make_task):
    """Membership is one column on the task, so letting a group-chat member file the owner's task
    would pull it out of the owner's folder: only the task's owner may (as in the reference)."""
    owners_project = _create(api)
    task = group_chat_with(make_task(user, team).task, other_user)
    _add(api, owners_project["id"], task.pk)
    bob = client_for(other_user)
    bobs_project = bob.post("/api/projects", {"name": "Bob's"}, format="json").json()

    response = _add(bob, bobs_project["id"], task.pk)
    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found"}
    assert reload(task).project_id == owners_project["id"]
    # Bob cannot take it out of Alice's folder either (her folder is not his).
    assert bob.delete(f"/api/projects/{owners_project['id']}/tasks/{task.pk}").status_code == 404
    # The owner's group chat shows as one in her folder.
    listed = api.get(f"/api/projects/{owners_project['id']}").json()["tasks"]
    assert [(t["task_id"], t["is_group_chat"]) for t in listed] == [(task.pk, True)]


def test_unknown_or_deleted_tasks_cannot_be_added(api, user, team, make_task):
    project = _create(api)
    deleted = make_task(user, team).task
    lifecycle.delete_task(actor=user, task_id=deleted.pk)
    placeholder = api.post("/api/tasks").json()["task_id"]
    for task_id in (deleted.pk, placeholder, 10**9, 2**63 - 1):
        response = _add(api, project["id"], task_id)
        assert response.status_code == 404, task_id
        assert response.json() == {"detail": "Task not found"}
    assert not TaskResource.objects.exclude(project_id=0).exists()


def test_deleting_a_task_takes_it_out_of_its_project(api, user, team, make_task):
    project = _create(api)
    kept, deleted = make_task(user, team).task, make_task(user, team).task
    _add(api, project["id"], kept.pk)
    _add(api, project["id"], deleted.pk)
    assert api.delete(f"/api/tasks/{deleted.pk}").status_code == 200
    body = api.get(f"/api/projects/{project['id']}").json()
    assert body["task_count"] == 1 and [t["task_id"] for t in body["tasks"]] == [kept.pk]
    assert reload(deleted).project_id == 0
    listed = api.get("/api/projects?include_tasks=false").json()["items"][0]
    assert listed["task_count"] == 1


# --- bad input and credentials --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": None},
        {"name": 5},
        {"name": ["a"]},
        {"name": "ok", "color": "c" * 21},
        {"name": "ok", "description": {"a": 1}},
        {"name": "ok", "color": 5},
        {"name": "ok", "description": "d" * 10_001},
    ],
)
def test_create_rejects_bad_input_with_422_and_writes_nothing(api, body):
    response = api.post("/api/projects", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["error_code"] == 422
    assert not Project.objects.exists()


def test_create_rejects_non_object_bodies(api):
    for raw in ("[1, 2]", '"text"', "{not json"):
        response = api.post("/api/projects", raw, content_type="application/json")
        assert response.status_code in (400, 422), raw
    assert not Project.objects.exists()


def test_name_at_the_limit_is_accepted(api):
    assert _create(api, name="n" * 100, color="c" * 20)["name"] == "n" * 100


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": None},
        {"color": "c" * 21},
        {"sort_order": "first"},
        {"sort_order": 2**31},
        {"is_expanded": "maybe"},
        {"is_expanded": None},
        {"sort_order": None},
        {"name": 7},
        {"color": ["red"]},
    ],
)
def test_update_rejects_bad_input_and_leaves_the_row(api, body):
    project = _create(api, description="d", color="blue")
    response = api.put(f"/api/projects/{project['id']}", {"description": "changed", **body}, format="json")
    assert response.status_code == 422, response.json()
    row = Project.objects.get(pk=project["id"])
    assert (row.name, row.description, row.color, row.sort_order, row.is_expanded) == (
        "Work",
        "d",
        "blue",
        project["sort_order"],
        True,
    )


@pytest.mark.parametrize("body", [{}, {"task_id": "abc"}, {"task_id": None}, {"task_id": 0}, {"task_id": -3}])
def test_add_task_rejects_bad_ids(api, user, team, make_task, body):
    project = _create(api)
    make_task(user, team)
    response = api.post(f"/api/projects/{project['id']}/tasks", body, format="json")
    assert response.status_code == 422, response.json()
    assert not TaskResource.objects.exclude(project_id=0).exists()


def test_bad_query_and_path_values(api):
    assert api.get("/api/projects?include_tasks=maybe").status_code == 422
    for path in ("/api/projects/0", "/api/projects/99999999999999999999", "/api/projects/abc"):
        assert api.get(path).status_code == 404, path
        assert api.delete(path).status_code == 404, path
    assert api.delete("/api/projects/1/tasks/99999999999999999999").status_code == 404


def test_every_route_needs_credentials(anon_client, user, client_for):
    project = make_project(user)
    bad_token = client_for(user)
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for client in (anon_client, bad_token):
        for method, path in (
            ("get", "/api/projects?include_tasks=true"),
            ("post", "/api/projects"),
            ("get", f"/api/projects/{project.pk}"),
            ("put", f"/api/projects/{project.pk}"),
            ("delete", f"/api/projects/{project.pk}"),
            ("post", f"/api/projects/{project.pk}/tasks"),
            ("delete", f"/api/projects/{project.pk}/tasks/1"),
        ):
            response = getattr(client, method)(path, {"name": "x", "task_id": 1}, format="json")
            assert response.status_code == 401, (method, path)
    project.refresh_from_db()
    assert project.is_active and project.name == "Folder"


def test_openapi_describes_the_routes(anon_client):
    paths = anon_client.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/projects"]) >= {"get", "post"}
    assert set(paths["/api/projects/{project_id}"]) >= {"get", "put", "delete"}
    assert "post" in paths["/api/projects/{project_id}/tasks"]
    assert "delete" in paths["/api/projects/{project_id}/tasks/{task_id}"]
