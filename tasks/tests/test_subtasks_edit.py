"""``/api/subtasks``: editing a user message, polling a task's messages, its streaming status."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kinds.models import ResourceMember
from tasks import documents, statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle, messages, turns
from tasks.tests.factories import reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


def conversation(user, team, make_task, turns_count: int = 3) -> TaskResource:  # type: ignore[no-untyped-def]
    turn = make_task(user, team, prompt="q1", answer="a1")
    for n in range(2, turns_count + 1):
        make_task(user, team, task_id=turn.task.pk, prompt=f"q{n}", answer=f"a{n}")
    return reload(turn.task)


def add_member(task: TaskResource, member, *, group_chat: bool = True) -> TaskResource:  # type: ignore[no-untyped-def]
    if group_chat:
        task.document = documents.changed(task.document, spec={"is_group_chat": True})
        task.save()
    ResourceMember.objects.create(resource_type="Task", resource_id=task.pk, user=member, status="approved")
    return task


def message(task: TaskResource, message_id: int) -> Subtask:
    return Subtask.objects.get(task=task, message_id=message_id)


def numbers(task: TaskResource) -> list[int]:
    return list(Subtask.objects.filter(task=task).order_by("message_id").values_list("message_id", flat=True))


def edit(client, subtask: Subtask, text: str = "edited"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/subtasks/{subtask.pk}/edit", {"new_content": text}, format="json")


# --- POST /subtasks/{id}/edit ----------------------------------------------------------------------


def test_edit_removes_the_message_and_everything_after_it(api, user, team, make_task):
    task = conversation(user, team, make_task)
    edited = message(task, 3)
    response = edit(api, edited, "q2, better")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "subtask_id": edited.pk,
        "message_id": 3,
        "deleted_count": 4,
        "new_content": "q2, better",
    }
    assert numbers(task) == [1, 2]
    task = reload(task)
    assert task.status == statuses.COMPLETED
    # The task takes the re-sent message as its next turn, numbered where the edit was.
    turn = turns.start_turn(actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="q2, better"))
    assert (turn.user_subtask.message_id, turn.assistant_subtask.message_id) == (3, 4)
    assert turn.user_subtask.parent_id == 2


def test_edit_of_the_first_message_empties_the_task_and_leaves_it_idle(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    response = edit(api, message(task, 1))
    assert response.status_code == 200 and response.json()["deleted_count"] == 4
    assert numbers(task) == []
    task = reload(task)
    assert task.status == statuses.COMPLETED and task.state["result"] is None
    turn = turns.start_turn(actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="again"))
    assert turn.user_subtask.message_id == 1 and turn.user_subtask.parent_id == 0


def test_edit_after_a_failed_answer_leaves_the_earlier_answer_in_charge(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    turn = make_task(user, team, task_id=task.pk, prompt="q2", answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    lifecycle.update_subtask(
        turn.assistant_subtask.pk, lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="boom")
    )
    assert reload(task).status == statuses.FAILED
    assert edit(api, turn.user_subtask).status_code == 200
    assert numbers(task) == [1, 2] and reload(task).status == statuses.COMPLETED


def test_edit_keeps_attachments_for_the_resend(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    edited = message(task, 3)
    upload = SubtaskContext.objects.create(subtask=edited, user=user, context_type="attachment", name="a.pdf")
    kb = SubtaskContext.objects.create(subtask=edited, user=user, context_type="knowledge_base", name="kb")
    assert edit(api, edited).status_code == 200
    upload.refresh_from_db()
    assert upload.subtask_id is None and not SubtaskContext.objects.filter(pk=kb.pk).exists()
    turn = turns.start_turn(
        actor=user, task_id=task.pk, options=turns.TurnOptions(prompt="edited", attachment_ids=[upload.pk])
    )
    upload.refresh_from_db()
    assert upload.subtask_id == turn.user_subtask.pk


def test_edit_of_an_answer_is_refused(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = edit(api, message(task, 2))
    assert response.status_code == 400 and response.json() == {"detail": "Only user messages can be edited"}
    assert numbers(task) == [1, 2]


@pytest.mark.parametrize("running", [False, True])
def test_edit_while_an_answer_is_generated_is_refused(api, user, team, make_task, running):
    task = conversation(user, team, make_task, turns_count=1)
    turn = make_task(user, team, task_id=task.pk, prompt="q2", answer=None)
    if running:
        lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    response = edit(api, message(task, 1))
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot edit while AI is generating a response"}
    assert numbers(task) == [1, 2, 3, 4]


def test_edit_in_a_group_chat_is_refused(api, other_user, user, team, make_task):
    task = add_member(conversation(user, team, make_task, turns_count=1), other_user)
    response = edit(api, message(task, 1))
    assert response.status_code == 400 and response.json() == {"detail": "Edit not supported in group chat"}
    assert numbers(task) == [1, 2]


def test_edit_text_over_the_prompt_limit_is_400_and_deletes_nothing(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = edit(api, message(task, 1), "é" * 30001)  # 60002 UTF-8 bytes
    assert response.status_code == 400 and "60000" in response.json()["detail"]
    assert numbers(task) == [1, 2]
    assert edit(api, message(task, 1), "é" * 30000).status_code == 200


@pytest.mark.parametrize("body", [{}, {"new_content": ""}, {"new_content": None}, {"new_content": ["x"]}])
def test_edit_bad_body_is_422_and_deletes_nothing(api, user, team, make_task, body):
    task = conversation(user, team, make_task, turns_count=1)
    response = api.post(f"/api/subtasks/{message(task, 1).pk}/edit", body, format="json")
    assert_validation_error(response, "new_content")
    assert numbers(task) == [1, 2]


def test_edit_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert edit(anon_client, message(task, 1)).status_code == 401
    assert numbers(task) == [1, 2]


def test_edit_someone_elses_message_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = edit(client_for(other_user), message(task, 1))
    assert response.status_code == 404 and response.json() == {"detail": "Message not found"}
    assert numbers(task) == [1, 2]


@pytest.mark.parametrize("subtask_id", ["31337", str(2**63 - 1)])
def test_edit_unknown_message_is_not_found(api, subtask_id):
    response = api.post(f"/api/subtasks/{subtask_id}/edit", {"new_content": "x"}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "Message not found"}


def test_member_edits_only_their_own_message(client_for, other_user, user, team, make_task):
    # A member of a task that is not a group chat: the sender may edit, others' messages are off limits.
    task = add_member(conversation(user, team, make_task, turns_count=1), other_user, group_chat=False)
    make_task(other_user, team, task_id=task.pk, prompt="from bob", answer="ok")
    bob = client_for(other_user)
    refused = edit(bob, message(task, 1))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only the task owner or the message's sender can edit it"}
    assert numbers(task) == [1, 2, 3, 4]
    assert edit(bob, message(task, 3)).status_code == 200
    assert numbers(task) == [1, 2]


# --- GET /subtasks/tasks/{task_id}/messages/poll ---------------------------------------------------


def poll(client, task: TaskResource, **query):  # type: ignore[no-untyped-def]
    return client.get(f"/api/subtasks/tasks/{task.pk}/messages/poll", query)


def test_poll_returns_every_message_without_filters(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    response = poll(api, task)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["has_streaming"] is False and body["streaming_subtask_id"] is None
    assert [m["message_id"] for m in body["messages"]] == [1, 2, 3, 4]
    first = body["messages"][0]
    assert first["sender_username"] == "alice" == first["sender_user_name"]
    assert first["prompt"] == "q1" and "contexts" in first and "executor_deleted_at" in first


def test_poll_after_a_message_id(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=2)
    body = poll(api, task, last_subtask_id=message(task, 2).pk).json()
    assert [m["message_id"] for m in body["messages"]] == [3, 4]
    assert poll(api, task, last_subtask_id=0).json()["messages"][0]["message_id"] == 1


def test_poll_since_a_time_sees_changed_messages(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    past = timezone.now() - dt.timedelta(hours=1)
    Subtask.objects.filter(task=task).update(updated_at=past)
    moment = past + dt.timedelta(minutes=1)
    assert poll(api, task, since=moment.isoformat()).json()["messages"] == []
    lifecycle.update_subtask(message(task, 2).pk, lifecycle.SubtaskChanges(title="touched"))
    body = poll(api, task, since=moment.isoformat()).json()
    assert [m["message_id"] for m in body["messages"]] == [2]
    zulu = poll(api, task, since=moment.strftime("%Y-%m-%dT%H:%M:%SZ")).json()
    assert [m["message_id"] for m in zulu["messages"]] == [2]


def test_poll_reports_a_running_answer(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    turn = make_task(user, team, task_id=task.pk, prompt="q2", answer=None)
    assert poll(api, task).json()["has_streaming"] is False  # pending is not streaming yet
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    body = poll(api, task).json()
    assert body["has_streaming"] is True and body["streaming_subtask_id"] == turn.assistant_subtask.pk


def test_group_member_polls_everyones_messages(client_for, other_user, user, team, make_task):
    task = add_member(conversation(user, team, make_task, turns_count=1), other_user)
    make_task(other_user, team, task_id=task.pk, prompt="hi all", answer=None, with_answer=False)
    body = poll(client_for(other_user), task).json()
    assert [(m["message_id"], m["sender_username"]) for m in body["messages"]] == [
        (1, "alice"),
        (2, None),
        (3, "bob"),
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"last_subtask_id": -1}, "last_subtask_id"),
        ({"last_subtask_id": "x"}, "last_subtask_id"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_poll_bad_query_is_422(api, user, team, make_task, query, field):
    task = conversation(user, team, make_task, turns_count=1)
    assert_validation_error(poll(api, task, **query), field)


def test_poll_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert poll(anon_client, task).status_code == 401


def test_poll_someone_elses_task_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = poll(client_for(other_user), task)
    assert response.status_code == 404 and response.json() == {"detail": "Task not found"}


# --- GET /subtasks/tasks/{task_id}/streaming-status ------------------------------------------------


def streaming(client, task: TaskResource):  # type: ignore[no-untyped-def]
    return client.get(f"/api/subtasks/tasks/{task.pk}/streaming-status")


def test_streaming_status_when_nothing_runs(api, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = streaming(api, task)
    assert response.status_code == 200
    assert response.json() == {
        "is_streaming": False,
        "subtask_id": None,
        "started_by_user_id": None,
        "started_by_username": None,
        "current_content": None,
        "started_at": None,
    }


def test_streaming_status_of_a_running_answer(api, user, team, make_task):
    turn = make_task(user, team, answer=None)
    answer = turn.assistant_subtask
    lifecycle.claim_subtask(answer.pk, "w")
    lifecycle.update_subtask(answer.pk, lifecycle.SubtaskChanges(result={"value": "so far"}))
    body = streaming(api, turn.task).json()
    assert body["is_streaming"] is True and body["subtask_id"] == answer.pk
    assert (body["started_by_user_id"], body["started_by_username"]) == (user.pk, "alice")
    assert body["current_content"] == "so far" and body["started_at"] is not None


def test_streaming_status_asks_live_text_providers_first(api, user, team, make_task, monkeypatch):
    turn = make_task(user, team, answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")

    def broken(_answer: Subtask) -> str | None:
        raise RuntimeError("cache down")

    with messages.live_text_providers.registered(broken, lambda _a: None):
        assert streaming(api, turn.task).json()["current_content"] == ""
    with messages.live_text_providers.registered(lambda _a: None, lambda a: f"live {a.pk}"):
        assert streaming(api, turn.task).json()["current_content"] == f"live {turn.assistant_subtask.pk}"


def test_group_member_sees_who_started_the_stream(client_for, other_user, user, team, make_task):
    task = add_member(conversation(user, team, make_task, turns_count=1), other_user)
    turn = make_task(other_user, team, task_id=task.pk, prompt="@team help", answer=None)
    lifecycle.claim_subtask(turn.assistant_subtask.pk, "w")
    for viewer in (user, other_user):
        body = streaming(client_for(viewer), task).json()
        assert body["is_streaming"] is True
        assert (body["started_by_user_id"], body["started_by_username"]) == (other_user.pk, "bob")


def test_streaming_status_needs_credentials(anon_client, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    assert streaming(anon_client, task).status_code == 401


def test_streaming_status_of_someone_elses_task_is_not_found(client_for, other_user, user, team, make_task):
    task = conversation(user, team, make_task, turns_count=1)
    response = streaming(client_for(other_user), task)
    assert response.status_code == 404 and response.json() == {"detail": "Task not found"}
    assert (
        client_for(user).get("/api/subtasks/tasks/99999999999999999999/streaming-status").status_code == 404
    )
