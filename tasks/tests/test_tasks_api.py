"""``/api/tasks``: reserve, create/append, lists, search, detail, update, delete, cancel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kinds.models import ResourceMember
from tasks import documents, statuses
from tasks.models import PLACEHOLDER, Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle
from tasks.tests.factories import complete
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

TASK_IN_DB_KEYS = {
    "title", "type", "task_type", "team_id", "git_url", "git_repo", "git_repo_id", "git_domain",
    "branch_name", "prompt", "status", "progress", "result", "error_message", "id", "user_id",
    "user_name", "created_at", "updated_at", "completed_at", "is_group_chat", "preserve_executor",
}  # fmt: skip
LITE_KEYS = {
    "id", "title", "status", "task_type", "type", "created_at", "updated_at", "completed_at",
    "team_id", "git_repo", "is_group_chat", "knowledge_base_id",
}  # fmt: skip
DETAIL_KEYS = {
    "id", "title", "git_url", "git_repo", "git_repo_id", "git_domain", "branch_name", "prompt",
    "status", "task_type", "progress", "result", "error_message", "created_at", "updated_at",
    "completed_at", "user", "team", "subtasks", "model_id", "is_group_chat", "is_group_owner",
    "member_count", "app", "device_id", "preserve_executor",
}  # fmt: skip
SUBTASK_KEYS = {
    "id", "task_id", "team_id", "title", "bot_ids", "role", "prompt", "executor_namespace",
    "executor_name", "message_id", "parent_id", "status", "progress", "result", "error_message",
    "user_id", "created_at", "updated_at", "completed_at", "bots", "contexts", "attachments",
    "sender_type", "sender_user_id", "sender_user_name", "reply_to_subtask_id",
}  # fmt: skip


def join_group(task: TaskResource, member) -> None:  # type: ignore[no-untyped-def]
    task.document = documents.changed(task.document, spec={"is_group_chat": True})
    task.save()
    ResourceMember.objects.create(
        resource_type="Task", resource_id=task.pk, user=member, status=ResourceMember.APPROVED
    )


# --- reserve and create ---------------------------------------------------------------------------


def test_reserve_returns_the_same_unused_id(api, anon_client):
    first = api.post("/api/tasks").json()["task_id"]
    assert api.post("/api/tasks").json()["task_id"] == first
    assert TaskResource.objects.get(pk=first).kind == PLACEHOLDER
    assert api.get("/api/tasks/lite").json() == {"total": 0, "items": []}
    assert anon_client.post("/api/tasks").status_code == 401


def test_create_on_reserved_id(api, user, team):
    task_id = api.post("/api/tasks").json()["task_id"]
    response = api.post(f"/api/tasks/{task_id}", {"prompt": "Build it", "team_id": team.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == TASK_IN_DB_KEYS
    assert body["id"] == task_id and body["team_id"] == team.pk and body["user_name"] == user.user_name
    assert body["title"] == "Build it" and body["status"] == "PENDING" and body["type"] == "online"
    rows = Subtask.objects.filter(task_id=task_id).order_by("message_id")
    assert [(r.role, r.title) for r in rows] == [
        ("USER", "Build it - User"),
        ("ASSISTANT", "Build it - Assistant"),
    ]
    # The id is used: a new reservation gives another one.
    assert api.post("/api/tasks").json()["task_id"] != task_id


def test_create_by_team_name_and_create_route_allocates(api, team):
    body = {"prompt": "x" * 60, "team_name": team.name, "team_namespace": "default"}
    response = api.post("/api/tasks/create", body, format="json")
    assert response.status_code == 201
    assert response.json()["title"] == "x" * 50 + "..."


def test_create_refusals_write_nothing(api, user, other_user, team, client_for):
    task_id = api.post("/api/tasks").json()["task_id"]
    bob_id = client_for(other_user).post("/api/tasks").json()["task_id"]
    before = (TaskResource.objects.count(), Subtask.objects.count())
    no_team = "Team not found, it may be deleted or not shared"
    too_long = "Prompt exceeds the maximum length of 60000 bytes"
    cases = [
        (f"/api/tasks/{task_id}", {"prompt": "hi", "team_id": 999999}, 404, no_team),
        (f"/api/tasks/{task_id}", {"prompt": "é" * 30001, "team_id": team.pk}, 400, too_long),
        (
            "/api/tasks/987654",
            {"prompt": "hi", "team_id": team.pk},
            400,
            "Invalid task_id: 987654 does not exist in session",
        ),
    ]
    for url, body, status, detail in cases:
        response = api.post(url, body, format="json")
        assert (response.status_code, response.json()["detail"]) == (status, detail)
    # Someone else's team and someone else's reserved id.
    bob_team_response = api.post(f"/api/tasks/{task_id}", {"prompt": "hi", "team_id": 0}, format="json")
    assert bob_team_response.status_code == 422
    response = api.post(f"/api/tasks/{bob_id}", {"prompt": "hi", "team_id": team.pk}, format="json")
    assert response.status_code == 400
    assert api.post(f"/api/tasks/{task_id}", {"team_id": team.pk}, format="json").status_code == 422
    assert (TaskResource.objects.count(), Subtask.objects.count()) == before
    assert TaskResource.objects.get(pk=task_id).kind == PLACEHOLDER


def test_someone_elses_team_is_not_found(api, other_user, bot_stack):
    bobs = bot_stack(other_user, "b")["team"]
    response = api.post("/api/tasks/create", {"prompt": "hi", "team_id": bobs.pk}, format="json")
    assert response.status_code == 404


def test_append_rules(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    url = f"/api/tasks/{turn.task.pk}"
    busy = api.post(url, {"prompt": "again"}, format="json")
    assert busy.status_code == 400
    assert busy.json()["detail"] == "Task is still running, please wait for it to complete"
    complete(turn.assistant_subtask, "done")
    appended = api.post(url, {"prompt": "again"}, format="json")
    assert appended.status_code == 201 and appended.json()["prompt"] == "again"
    rows = list(Subtask.objects.filter(task=turn.task).order_by("message_id"))
    assert [r.message_id for r in rows] == [1, 2, 3, 4]
    assert rows[3].parent_id == 3


def test_append_to_expired_or_cleared_task(api, user, team, make_task):
    turn = make_task(user, team)
    TaskResource.objects.filter(pk=turn.task.pk).update(updated_at=timezone.now() - dt.timedelta(hours=3))
    expired = api.post(f"/api/tasks/{turn.task.pk}", {"prompt": "more"}, format="json")
    assert expired.status_code == 400 and "expired" in expired.json()["detail"]
    cleared = make_task(user, team, auto_delete_executor="true")
    response = api.post(f"/api/tasks/{cleared.task.pk}", {"prompt": "more"}, format="json")
    assert response.json()["detail"] == "task already clear, please create a new task"


def test_append_to_deleted_or_foreign_task(api, client_for, user, other_user, team, make_task):
    turn = make_task(user, team)
    bob = client_for(other_user)
    assert bob.post(f"/api/tasks/{turn.task.pk}", {"prompt": "x"}, format="json").status_code == 400
    api.delete(f"/api/tasks/{turn.task.pk}")
    response = api.post(f"/api/tasks/{turn.task.pk}", {"prompt": "x"}, format="json")
    assert response.status_code == 400 and "deleted" in response.json()["detail"]


# --- lists -----------------------------------------------------------------------------------------


def test_lists_show_own_and_joined_group_chats_only(
    api, client_for, user, other_user, team, make_task, bot_stack
):
    mine = make_task(user, team, prompt="mine")
    code = make_task(user, team, prompt="code task", type="offline", task_type="code")
    hidden = make_task(user, team, prompt="summary", task_type="summary")
    bobs_team = bot_stack(other_user, "b")["team"]
    bobs_private = make_task(other_user, bobs_team, prompt="private")
    bobs_group = make_task(other_user, bobs_team, prompt="group")
    join_group(bobs_group.task, user)

    ids = [item["id"] for item in api.get("/api/tasks").json()["items"]]
    assert ids == [bobs_group.task.pk, code.task.pk, mine.task.pk]
    lite = api.get("/api/tasks/lite").json()
    assert lite["total"] == 3 and set(lite["items"][0]) == LITE_KEYS
    personal = api.get("/api/tasks/lite/personal").json()["items"]
    assert [i["id"] for i in personal] == [code.task.pk, mine.task.pk]
    online = api.get("/api/tasks/lite/personal?types=online").json()["items"]
    assert [i["id"] for i in online] == [mine.task.pk]
    group = api.get("/api/tasks/lite/group").json()["items"]
    assert [i["id"] for i in group] == [bobs_group.task.pk] and group[0]["is_group_chat"] is True
    new = api.get(f"/api/tasks/lite/new?since_id={code.task.pk}").json()
    assert [i["id"] for i in new["items"]] == [bobs_group.task.pk]
    assert hidden.task.pk not in ids and bobs_private.task.pk not in ids
    found = api.get("/api/tasks/search?title=CODE").json()
    assert [i["id"] for i in found["items"]] == [code.task.pk] and found["items"][0]["type"] == "offline"


def test_list_paging_and_bad_queries(api, user, team, make_task):
    for n in range(3):
        make_task(user, team, prompt=f"t{n}")
    page = api.get("/api/tasks?page=2&limit=2").json()
    assert page["total"] == 3 and len(page["items"]) == 1
    for url in (
        "/api/tasks?limit=0",
        "/api/tasks/lite?page=x",
        "/api/tasks/lite/personal?types=bogus",
        "/api/tasks/lite/new?since_id=-1",
        "/api/tasks/search",
    ):
        assert api.get(url).status_code == 422, url


def test_lists_need_credentials(anon_client):
    for url in ("/api/tasks", "/api/tasks/lite", "/api/tasks/lite/group", "/api/tasks/search?title=a"):
        assert anon_client.get(url).status_code == 401


# --- detail ----------------------------------------------------------------------------------------


def test_detail_shape(api, user, team, make_task):
    turn = make_task(user, team, prompt="hello", answer="hi there")
    SubtaskContext.objects.create(
        user=user, subtask=turn.user_subtask, name="a.txt", status="ready",
        type_data={"file_extension": ".txt", "file_size": 3, "mime_type": "text/plain"},
    )  # fmt: skip
    body = api.get(f"/api/tasks/{turn.task.pk}").json()
    assert set(body) == DETAIL_KEYS
    assert body["user"]["user_name"] == user.user_name and body["team"]["id"] == team.pk
    assert body["status"] == "COMPLETED" and body["result"] == {"value": "hi there"}
    assert body["is_group_owner"] is True and body["member_count"] is None
    user_row, answer = body["subtasks"]
    assert set(user_row) == SUBTASK_KEYS
    assert user_row["contexts"] == [
        {"id": user_row["contexts"][0]["id"], "context_type": "attachment", "name": "a.txt",
         "status": "ready", "file_extension": ".txt", "file_size": 3, "mime_type": "text/plain"}
    ]  # fmt: skip
    assert user_row["sender_type"] == "USER" and user_row["sender_user_name"] == user.user_name
    assert answer["result"] == {"value": "hi there"} and answer["sender_type"] == "TEAM"
    assert [bot["name"] for bot in answer["bots"]] == ["t-bot"]
    assert answer["bots"][0]["agent_config"]["bind_model"] == "t-model"


def test_detail_access(api, client_for, user, other_user, admin_user, team, make_task, anon_client):
    turn = make_task(user, team)
    url = f"/api/tasks/{turn.task.pk}"
    assert client_for(other_user).get(url).json() == {"detail": "Task not found"}
    assert client_for(admin_user).get(url).status_code == 404
    assert anon_client.get(url).status_code == 401
    assert api.get("/api/tasks/99999999").status_code == 404
    join_group(turn.task, other_user)
    member_view = client_for(other_user).get(url).json()
    assert member_view["is_group_owner"] is False and member_view["member_count"] == 2
    assert len(member_view["subtasks"]) == 2


def test_detail_query_count_does_not_grow_with_messages(api, user, team, make_task):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    short = make_task(user, team)
    long = make_task(user, team)
    for n in range(99):
        make_task(user, team, task_id=long.task.pk, prompt=f"turn {n}")
    assert Subtask.objects.filter(task=long.task).count() == 200

    def count(task_id: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200
        return len(captured.captured_queries)

    api.get("/api/tasks/lite")  # warms the per-process caches (the signed-in user) first
    assert count(long.task.pk) == count(short.task.pk) <= 12
    assert len(api.get(f"/api/tasks/{long.task.pk}").json()["subtasks"]) == 100


# --- update, delete ------------------------------------------------------------------------------


def test_rename_and_update(api, user, team, make_task):
    turn = make_task(user, team)
    url = f"/api/tasks/{turn.task.pk}"
    response = api.put(url, {"title": "Renamed", "git_url": "https://git.example/x.git"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Renamed"
    assert response.json()["git_url"] == "https://git.example/x.git"
    assert api.get("/api/tasks/search?title=renamed").json()["total"] == 1


def test_update_refusals(api, client_for, user, other_user, team, make_task):
    turn = make_task(user, team)
    url = f"/api/tasks/{turn.task.pk}"
    assert api.put(url, {"prompt": "é" * 30001}, format="json").status_code == 400
    bad = api.put(url, {"status": "RUNNING"}, format="json")
    assert (
        bad.status_code == 400
        and bad.json()["detail"] == "Cannot change task status from COMPLETED to RUNNING"
    )
    assert api.put(url, {"status": "NOPE"}, format="json").status_code == 422
    assert api.put(url, {"progress": 101}, format="json").status_code == 422
    assert api.put(url, {"title": ""}, format="json").status_code == 422
    join_group(turn.task, other_user)
    # Members may read the task but not change it (the reference checks no owner here).
    assert client_for(other_user).put(url, {"title": "mine now"}, format="json").status_code == 404
    turn.task.refresh_from_db()
    assert turn.task.spec["title"] == "hello"


def test_owner_delete_is_soft(api, user, team, make_task):
    turn = make_task(user, team)
    response = api.delete(f"/api/tasks/{turn.task.pk}")
    assert response.json() == {"message": "Task deleted successfully"}
    row = TaskResource.objects.get(pk=turn.task.pk)
    assert row.is_active is False and row.status == statuses.DELETE and not row.listed
    assert set(Subtask.objects.filter(task=row).values_list("status", flat=True)) == {statuses.DELETE}
    assert api.get(f"/api/tasks/{row.pk}").status_code == 404
    assert api.delete(f"/api/tasks/{row.pk}").status_code == 404


def test_member_delete_is_leave_and_stranger_gets_404(
    api, client_for, user, other_user, make_user, team, make_task
):
    turn = make_task(user, team)
    join_group(turn.task, other_user)
    assert client_for(other_user).delete(f"/api/tasks/{turn.task.pk}").status_code == 200
    member = ResourceMember.objects.get(user=other_user)
    assert member.status == ResourceMember.REJECTED
    assert TaskResource.objects.get(pk=turn.task.pk).is_active
    stranger = client_for(make_user("carol"))
    assert stranger.delete(f"/api/tasks/{turn.task.pk}").status_code == 404


# --- cancel ------------------------------------------------------------------------------------------


def test_cancel_paths(api, user, team, make_task):
    finished = make_task(user, team)
    response = api.post(f"/api/tasks/{finished.task.pk}/cancel")
    assert (response.status_code, response.json()["detail"]) == (
        400,
        "Task is already COMPLETED, cannot cancel",
    )

    waiting = make_task(user, team, answer=None)
    response = api.post(f"/api/tasks/{waiting.task.pk}/cancel")
    assert response.json() == {"message": "Task cancelled", "status": "CANCELLED"}
    assert Subtask.objects.get(pk=waiting.assistant_subtask.pk).status == statuses.CANCELLED

    running = make_task(user, team, answer=None)
    lifecycle.claim_subtask(running.assistant_subtask.pk, "executor-1")
    response = api.post(f"/api/tasks/{running.task.pk}/cancel")
    assert response.json() == {"message": "Cancel request accepted", "status": "CANCELLING"}
    again = api.post(f"/api/tasks/{running.task.pk}/cancel")
    assert again.json() == {"message": "Task is already being cancelled", "status": "CANCELLING"}
    # The executor reports its answer ended: the task ends CANCELLED whatever way it ended.
    lifecycle.update_subtask(running.assistant_subtask.pk, lifecycle.SubtaskChanges(status=statuses.FAILED))
    assert TaskResource.objects.get(pk=running.task.pk).status == statuses.CANCELLED


def test_cancel_chat_stream(api, client_for, other_user, user, team, make_task):
    chat = make_task(user, team, answer=None, source="chat_shell")
    lifecycle.claim_subtask(chat.assistant_subtask.pk, "web-1")
    lifecycle.update_subtask(chat.assistant_subtask.pk, lifecycle.SubtaskChanges(result={"value": "partial"}))
    assert client_for(other_user).post(f"/api/tasks/{chat.task.pk}/cancel").status_code == 404
    response = api.post(f"/api/tasks/{chat.task.pk}/cancel")
    assert response.json() == {"message": "Chat stopped successfully", "status": "CANCELLED"}
    answer = Subtask.objects.get(pk=chat.assistant_subtask.pk)
    assert answer.status == statuses.CANCELLED and answer.result == {"value": "partial"}
    assert TaskResource.objects.get(pk=chat.task.pk).status == statuses.CANCELLED
    idle = make_task(user, team, answer=None, source="chat_shell")
    lifecycle.update_subtask(idle.assistant_subtask.pk, lifecycle.SubtaskChanges(status=statuses.FAILED))
    TaskResource.objects.filter(pk=idle.task.pk).update(status="RUNNING")
    row = TaskResource.objects.get(pk=idle.task.pk)
    row.document = documents.changed(row.document, status="RUNNING")
    row.save()
    response = api.post(f"/api/tasks/{idle.task.pk}/cancel")
    assert response.json() == {"message": "No running stream to cancel", "status": "RUNNING"}


def test_service_credentials_are_masked_in_every_answer(api, client_for, other_user, user, team, make_task):
    turn = make_task(user, team)
    body = {"name": "preview", "mysql": "mysql://app:pw-secret-98765@db.local:3306/shop"}
    response = api.post(f"/api/tasks/{turn.task.pk}/services", body, format="json")
    assert response.status_code == 200, response.json()
    assert "pw-secret-98765" not in response.content.decode()
    assert response.json()["app"]["mysql"] == "mysql://app:****@db.local:3306/shop"
    turn.task.refresh_from_db()
    join_group(turn.task, other_user)
    for client in (api, client_for(other_user)):
        for url in (f"/api/tasks/{turn.task.pk}", f"/api/tasks/{turn.task.pk}/services"):
            shown = client.get(url)
            assert shown.status_code == 200 and "pw-secret-98765" not in shown.content.decode()
            assert shown.json()["app"]["mysql"] == "mysql://app:****@db.local:3306/shop"
    # Stored as given: the executor that set it up can still be handed the real value.
    assert (
        TaskResource.objects.get(pk=turn.task.pk)
        .state["app"]["mysql"]
        .endswith("pw-secret-98765@db.local:3306/shop")
    )


@pytest.mark.parametrize("skills", [[None, None], [None], [{"name": "s"}, None]])
def test_null_additional_skills_items_are_a_422_and_write_nothing(api, team, skills):
    # The list may be null; its items may not (they were read as dicts: a 500, found by the fuzzer).
    task_id = api.post("/api/tasks").json()["task_id"]
    before = (TaskResource.objects.count(), Subtask.objects.count())
    body = {"prompt": "hi", "team_id": team.pk, "additional_skills": skills}
    assert_validation_error(api.post(f"/api/tasks/{task_id}", body, format="json"), "additional_skills")
    assert (TaskResource.objects.count(), Subtask.objects.count()) == before
    body["additional_skills"] = None
    assert api.post(f"/api/tasks/{task_id}", body, format="json").status_code == 201
