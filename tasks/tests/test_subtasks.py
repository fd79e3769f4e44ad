"""``/api/subtasks``: listing a task's messages, reading, updating and deleting one message."""

from __future__ import annotations

import pytest

from kinds.models import ResourceMember
from tasks import documents, statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle, turns
from tasks.tests.factories import reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db

SUBTASK_KEYS = {
    "id",
    "task_id",
    "team_id",
    "title",
    "bot_ids",
    "role",
    "prompt",
    "executor_namespace",
    "executor_name",
    "message_id",
    "parent_id",
    "status",
    "progress",
    "result",
    "error_message",
    "user_id",
    "created_at",
    "updated_at",
    "completed_at",
    "executor_deleted_at",
    "contexts",
    "attachments",
    "sender_type",
    "sender_user_id",
    "sender_user_name",
    "reply_to_subtask_id",
}


def conversation(user, team, make_task, turns_count: int = 3) -> TaskResource:  # type: ignore[no-untyped-def]
    """A task with ``turns_count`` answered turns: messages 1..2*turns_count."""
    turn = make_task(user, team, prompt="q1", answer="a1")
    for n in range(2, turns_count + 1):
        make_task(user, team, task_id=turn.task.pk, prompt=f"q{n}", answer=f"a{n}")
    return reload(turn.task)


def make_group_chat(task: TaskResource, *members) -> TaskResource:  # type: ignore[no-untyped-def]
    task.document = documents.changed(task.document, spec={"is_group_chat": True})
    task.save()
    for member in members:
        ResourceMember.objects.create(
            resource_type="Task", resource_id=task.pk, user=member, status="approved"
        )
    return task


def message(task: TaskResource, message_id: int) -> Subtask:
    return Subtask.objects.get(task=task, message_id=message_id)


def snapshot(task: TaskResource) -> list[tuple]:
    return list(
        Subtask.objects.filter(task=task)
        .order_by("message_id")
        .values_list("pk", "message_id", "parent_id", "title", "status", "progress", "result")
    )


# --- GET /subtasks ---------------------------------------------------------------------------------


def test_list_returns_all_messages_oldest_first(api, user, team, make_task):
    task = conversation(user, team, make_task)
    response = api.get("/api/subtasks", {"task_id": task.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 6
    assert [item["message_id"] for item in body["items"]] == [1, 2, 3, 4, 5, 6]
    first, second = body["items"][:2]
    assert set(first) == SUBTASK_KEYS
    assert first["role"] == "USER" and first["prompt"] == "q1" and first["sender_user_name"] == "alice"
    assert second["role"] == "ASSISTANT" and second["result"] == {"value": "a1"}
    assert second["sender_type"] == "TEAM" and second["attachments"] == []


def test_list_from_latest_is_the_default_and_pages_from_the_end(api, user, team, make_task):
    task = conversation(user, team, make_task)
    page1 = api.get("/api/subtasks", {"task_id": task.pk, "limit": 2}).json()
    assert [i["message_id"] for i in page1["items"]] == [5, 6] and page1["total"] == 6
    page2 = api.get("/api/subtasks", {"task_id": task.pk, "limit": 2, "page": 2}).json()
    assert [i["message_id"] for i in page2["items"]] == [3, 4]
    explicit = api.get("/api/subtasks", {"task_id": task.pk, "limit": 4, "from_latest": "true"}).json()
    assert [i["message_id"] for i in explicit["items"]] == [3, 4, 5, 6]


def test_list_from_the_start(api, user, team, make_task):
    task = conversation(user, team, make_task)
    wanted = {"task_id": task.pk, "limit": 2, "from_latest": "false"}
    pages = [api.get("/api/subtasks", {**wanted, "page": n}).json() for n in (1, 2, 3, 4)]
    assert [[i["message_id"] for i in page["items"]] for page in pages] == [[1, 2], [3, 4], [5, 6], []]
    assert {page["total"] for page in pages} == {6}


def test_list_before_message_id_scrolls_back(api, user, team, make_task):
    task = conversation(user, team, make_task)
    older = api.get("/api/subtasks", {"task_id": task.pk, "limit": 2, "before_message_id": 5}).json()
    assert [i["message_id"] for i in older["items"]] == [3, 4]
    assert older["total"] == 4  # messages before 5
    oldest = api.get(
        "/api/subtasks", {"task_id": task.pk, "limit": 2, "before_message_id": 3, "from_latest": "false"}
    ).json()
    assert [i["message_id"] for i in oldest["items"]] == [1, 2] and oldest["total"] == 2


def test_list_a_huge_page_is_empty_not_an_error(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = api.get("/api/subtasks", {"task_id": task.pk, "page": 10**16, "limit": 100})
    assert response.status_code == 200
    assert response.json() == {"total": 2, "items": []}
    # Past the page whose offset the database can hold: the paging helper's clear 422.
    too_far = api.get("/api/subtasks", {"task_id": task.pk, "page": 10**19, "limit": 100})
    assert_validation_error(too_far, "page")


def test_list_leaves_out_messages_marked_deleted(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    Subtask.objects.filter(task=task, message_id=2).update(status=statuses.DELETE)
    body = api.get("/api/subtasks", {"task_id": task.pk}).json()
    assert [i["message_id"] for i in body["items"]] == [1, 3, 4] and body["total"] == 3


def test_list_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert anon_client.get("/api/subtasks", {"task_id": task.pk}).status_code == 401


def test_list_of_someone_elses_task_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = client_for(other_user).get("/api/subtasks", {"task_id": task.pk})
    assert response.status_code == 404 and response.json() == {"detail": "Task not found"}


def test_list_of_unknown_or_deleted_task_is_not_found(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert api.get("/api/subtasks", {"task_id": task.pk + 1000}).status_code == 404
    # Past what an id column holds: refused with the other query values (wegent.api.validation).
    assert_validation_error(api.get("/api/subtasks", {"task_id": 10**30}), "task_id")
    assert api.get("/api/subtasks", {"task_id": 2**63 - 1}).status_code == 404
    lifecycle.delete_task(actor=user, task_id=task.pk)
    response = api.get("/api/subtasks", {"task_id": task.pk})
    assert response.status_code == 404 and response.json()["detail"] == "Task not found"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "task_id"),
        ({"task_id": "x"}, "task_id"),
        ({"task_id": 1, "limit": 101}, "limit"),
        ({"task_id": 1, "limit": 0}, "limit"),
        ({"task_id": 1, "page": 0}, "page"),
        ({"task_id": 1, "from_latest": "maybe"}, "from_latest"),
        ({"task_id": 1, "before_message_id": 0}, "before_message_id"),
        ({"task_id": 1, "before_message_id": "x"}, "before_message_id"),
    ],
)
def test_list_bad_query_is_422(api, query, field):
    assert_validation_error(api.get("/api/subtasks", query), field)


def test_group_member_lists_everyones_messages(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    make_group_chat(task, other_user)
    make_task(other_user, team, task_id=task.pk, prompt="from bob", answer="to bob")
    body = client_for(other_user).get("/api/subtasks", {"task_id": task.pk}).json()
    assert body["total"] == 4
    assert [(i["message_id"], i["sender_user_name"]) for i in body["items"]] == [
        (1, "alice"),
        (2, None),
        (3, "bob"),
        (4, None),
    ]
    assert all(i["user_id"] == user.pk for i in body["items"])  # the conversation's owner


def test_rejected_member_sees_nothing(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    make_group_chat(task)
    ResourceMember.objects.create(
        resource_type="Task", resource_id=task.pk, user=other_user, status="rejected"
    )
    assert client_for(other_user).get("/api/subtasks", {"task_id": task.pk}).status_code == 404


# --- GET /subtasks/{id} ----------------------------------------------------------------------------


def test_get_one_message_with_its_contexts(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    asked = message(task, 1)
    SubtaskContext.objects.create(
        subtask=asked,
        user=user,
        context_type=SubtaskContext.ATTACHMENT,
        name="notes.txt",
        status="ready",
        type_data={"file_extension": ".txt", "file_size": 12, "mime_type": "text/plain"},
    )
    response = api.get(f"/api/subtasks/{asked.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == SUBTASK_KEYS
    assert body["id"] == asked.pk and body["prompt"] == "q1"
    assert body["contexts"] == [
        {
            "id": SubtaskContext.objects.get().pk,
            "context_type": "attachment",
            "name": "notes.txt",
            "status": "ready",
            "file_extension": ".txt",
            "file_size": 12,
            "mime_type": "text/plain",
        }
    ]


def test_get_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert anon_client.get(f"/api/subtasks/{message(task, 1).pk}").status_code == 401


def test_get_someone_elses_message_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = client_for(other_user).get(f"/api/subtasks/{message(task, 1).pk}")
    assert response.status_code == 404 and response.json() == {"detail": "Subtask not found"}


@pytest.mark.parametrize("subtask_id", ["0", "99999", str(2**63 - 1)])
def test_get_unknown_message_is_not_found(api, subtask_id):
    response = api.get(f"/api/subtasks/{subtask_id}")
    assert response.status_code == 404 and response.json() == {"detail": "Subtask not found"}


def test_a_message_id_past_int64_is_the_path_guards_404(api):
    # Checked for every route before any view (wegent.middleware.PathIntegerRangeMiddleware).
    response = api.get("/api/subtasks/99999999999999999999")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_get_message_of_deleted_task_or_marked_deleted_is_not_found(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    Subtask.objects.filter(pk=message(task, 2).pk).update(status=statuses.DELETE)
    assert api.get(f"/api/subtasks/{message(task, 2).pk}").status_code == 404
    lifecycle.delete_task(actor=user, task_id=task.pk)
    assert api.get(f"/api/subtasks/{message(task, 1).pk}").status_code == 404


def test_group_member_reads_a_message(client_for, other_user, user, team, make_task):
    task = make_group_chat(conversation(user, team, make_task, turns_count=1), other_user)
    response = client_for(other_user).get(f"/api/subtasks/{message(task, 2).pk}")
    assert response.status_code == 200 and response.json()["result"] == {"value": "a1"}


# --- PUT /subtasks/{id} ----------------------------------------------------------------------------


def test_owner_updates_fields(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    answer = message(task, 2)
    response = api.put(
        f"/api/subtasks/{answer.pk}",
        {
            "title": "Renamed",
            "progress": 40,
            "error_message": "note",
            "executor_namespace": "ns",
            "executor_name": "pod-1",
            "executor_deleted_at": True,
            "result": {"value": "edited answer"},
            "parent_id": 0,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == SUBTASK_KEYS
    assert (body["title"], body["progress"], body["error_message"]) == ("Renamed", 40, "note")
    assert (body["executor_namespace"], body["executor_name"], body["executor_deleted_at"]) == (
        "ns",
        "pod-1",
        True,
    )
    assert body["result"] == {"value": "edited answer"} and body["parent_id"] == 0
    answer.refresh_from_db()
    assert answer.title == "Renamed" and answer.progress == 40 and answer.executor_deleted_at
    assert answer.result == {"value": "edited answer"} and answer.parent_id == 0


def test_empty_update_changes_nothing(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    before = snapshot(task)
    response = api.put(f"/api/subtasks/{message(task, 2).pk}", {}, format="json")
    assert response.status_code == 200 and response.json()["title"] == message(task, 2).title
    assert snapshot(task) == before


def test_status_updates_follow_transitions_and_drive_the_task(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    answer = turn.assistant_subtask
    running = api.put(f"/api/subtasks/{answer.pk}", {"status": "RUNNING"}, format="json")
    assert running.status_code == 200 and running.json()["status"] == "RUNNING"
    assert reload(turn.task).status == statuses.RUNNING
    done = api.put(
        f"/api/subtasks/{answer.pk}", {"status": "COMPLETED", "result": {"value": "ok"}}, format="json"
    )
    assert done.status_code == 200 and done.json()["progress"] == 100
    task = reload(turn.task)
    assert task.status == statuses.COMPLETED and task.state["result"] == {"value": "ok"}


def test_illegal_status_move_is_400_and_writes_nothing(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    before = snapshot(task)
    response = api.put(
        f"/api/subtasks/{message(task, 2).pk}",
        {"status": "PENDING", "title": "not applied", "message_id": 50},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot change subtask status from COMPLETED to PENDING"}
    assert snapshot(task) == before and reload(task).status == statuses.COMPLETED


def test_message_id_already_used_is_400_and_writes_nothing(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    before = snapshot(task)
    response = api.put(f"/api/subtasks/{message(task, 2).pk}", {"message_id": 3, "title": "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Message id 3 is already used in this task"}
    assert snapshot(task) == before


def test_message_id_can_move_to_a_free_number(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    first_answer = message(task, 2)
    response = api.put(f"/api/subtasks/{first_answer.pk}", {"message_id": 9}, format="json")
    assert response.status_code == 200 and response.json()["message_id"] == 9
    assert list(Subtask.objects.filter(task=task).values_list("message_id", flat=True)) == [1, 3, 4, 9]
    assert reload(task).status == statuses.COMPLETED
    again = turns.start_turn(actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="next"))
    assert again.user_subtask.message_id == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"progress": 101}, "progress"),
        ({"progress": -1}, "progress"),
        ({"progress": "half"}, "progress"),
        ({"status": "BOGUS"}, "status"),
        ({"status": "CANCELLING"}, "status"),
        ({"message_id": 0}, "message_id"),
        ({"message_id": 2**31}, "message_id"),
        ({"parent_id": -1}, "parent_id"),
        ({"result": "text"}, "result"),
        ({"title": "x" * 257}, "title"),
        ({"executor_name": "x" * 101}, "executor_name"),
        ({"executor_deleted_at": "maybe"}, "executor_deleted_at"),
    ],
)
def test_update_bad_input_is_422_and_writes_nothing(api, user, team, make_task, body, field):
    task = conversation(user, team, make_task, turns_count=1)
    before = snapshot(task)
    assert_validation_error(api.put(f"/api/subtasks/{message(task, 2).pk}", body, format="json"), field)
    assert snapshot(task) == before


def test_update_with_a_non_object_body_is_422(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = api.put(f"/api/subtasks/{message(task, 2).pk}", [1, 2], format="json")
    assert response.status_code == 422


def test_update_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = anon_client.put(f"/api/subtasks/{message(task, 2).pk}", {"title": "x"}, format="json")
    assert response.status_code == 401
    assert message(task, 2).title != "x"


def test_update_someone_elses_message_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    before = snapshot(task)
    response = client_for(other_user).put(
        f"/api/subtasks/{message(task, 2).pk}", {"title": "x"}, format="json"
    )
    assert response.status_code == 404 and response.json() == {"detail": "Subtask not found"}
    assert snapshot(task) == before


def test_group_member_may_not_update(client_for, other_user, user, team, make_task):
    task = make_group_chat(conversation(user, team, make_task, turns_count=1), other_user)
    before = snapshot(task)
    response = client_for(other_user).put(
        f"/api/subtasks/{message(task, 1).pk}", {"title": "x"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the task owner can change its messages"}
    assert snapshot(task) == before


# --- DELETE /subtasks/{id} -------------------------------------------------------------------------


def test_delete_last_answer_keeps_task_appendable(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    last = message(task, 4)
    response = api.delete(f"/api/subtasks/{last.pk}")
    assert response.status_code == 200 and response.json() == {"message": "Subtask deleted successfully"}
    assert not Subtask.objects.filter(pk=last.pk).exists()
    task = reload(task)
    assert task.status == statuses.COMPLETED
    turn = turns.start_turn(actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="again"))
    assert turn.user_subtask.message_id == 4


def test_delete_the_only_answer_leaves_an_idle_task(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    lifecycle.update_subtask(
        turn.assistant_subtask.pk,
        lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="model down"),
    )
    assert reload(turn.task).status == statuses.FAILED
    assert api.delete(f"/api/subtasks/{turn.assistant_subtask.pk}").status_code == 200
    task = reload(turn.task)
    assert task.status == statuses.COMPLETED
    assert task.state["errorMessage"] is None and task.state["result"] is None
    turns.start_turn(actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="retry"))


def test_delete_a_pending_answer_unblocks_the_task(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    assert reload(turn.task).status == statuses.PENDING
    assert api.delete(f"/api/subtasks/{turn.assistant_subtask.pk}").status_code == 200
    assert reload(turn.task).status == statuses.COMPLETED
    again = turns.start_turn(actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="x"))
    assert again.user_subtask.message_id == 2


def test_delete_a_running_answer_is_refused(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    response = api.delete(f"/api/subtasks/{turn.assistant_subtask.pk}")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot delete a response that is still being generated"}
    assert Subtask.objects.filter(pk=turn.assistant_subtask.pk, status=statuses.RUNNING).exists()
    assert reload(turn.task).status == statuses.RUNNING


def test_delete_keeps_attachments_unlinked_and_drops_other_contexts(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    asked = message(task, 1)
    upload = SubtaskContext.objects.create(subtask=asked, user=user, context_type="attachment", name="a.txt")
    kb = SubtaskContext.objects.create(subtask=asked, user=user, context_type="knowledge_base", name="kb")
    assert api.delete(f"/api/subtasks/{asked.pk}").status_code == 200
    upload.refresh_from_db()
    assert upload.subtask_id is None
    assert not SubtaskContext.objects.filter(pk=kb.pk).exists()
    assert list(Subtask.objects.filter(task=task).values_list("message_id", flat=True)) == [2]


def test_delete_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert anon_client.delete(f"/api/subtasks/{message(task, 2).pk}").status_code == 401
    assert Subtask.objects.filter(task=task).count() == 2


def test_delete_someone_elses_message_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = client_for(other_user).delete(f"/api/subtasks/{message(task, 2).pk}")
    assert response.status_code == 404 and response.json() == {"detail": "Subtask not found"}
    assert Subtask.objects.filter(task=task).count() == 2


def test_delete_unknown_message_is_not_found(api):
    assert api.delete("/api/subtasks/424242").status_code == 404
    assert api.delete("/api/subtasks/99999999999999999999").status_code == 404


def test_group_member_may_not_delete(client_for, other_user, user, team, make_task):
    task = make_group_chat(conversation(user, team, make_task, turns_count=1), other_user)
    make_task(other_user, team, task_id=task.pk, prompt="mine", answer="ok")
    own = message(task, 3)
    assert own.sender_user_id == other_user.pk
    response = client_for(other_user).delete(f"/api/subtasks/{own.pk}")
    assert response.status_code == 403
    assert Subtask.objects.filter(task=task).count() == 4
