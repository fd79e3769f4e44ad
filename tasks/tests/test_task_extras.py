"""/api/tasks/{id}/skills, pipeline-stage-info, confirm-stage, preserve-executor and services."""

from __future__ import annotations

import json

import pytest

from kinds.models import Kind, ResourceMember
from kinds.tests.factories import team_doc
from tasks import statuses
from tasks.models import Subtask, TaskResource
from tasks.services import lifecycle
from tasks.tests.factories import complete, reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


def url(task: TaskResource, route: str) -> str:
    return f"/api/tasks/{task.pk}/{route}"


def add_member(task: TaskResource, user) -> None:  # type: ignore[no-untyped-def]
    ResourceMember.objects.create(
        resource_type=ResourceMember.TASK, resource_id=task.pk, user=user, status=ResourceMember.APPROVED
    )


def await_confirmation(answer: Subtask, draft: str = "draft plan") -> None:
    """The stage's answer ends waiting for the owner's confirmation (as the executor reports it)."""
    lifecycle.claim_subtask(answer.pk, "worker")
    lifecycle.update_subtask(
        answer.pk,
        lifecycle.SubtaskChanges(status=statuses.PENDING_CONFIRMATION, result={"value": draft}),
    )


@pytest.fixture
def pipeline(user, bot_stack, make_kind):  # type: ignore[no-untyped-def]
    """Alice's two-stage pipeline team: p1-bot (requires confirmation), then p2-bot."""
    first, second = bot_stack(user, "p1"), bot_stack(user, "p2")
    document = team_doc("pipe", ["p1-bot", "p2-bot"], mode="pipeline")
    document["spec"]["members"][0]["requireConfirmation"] = True
    team = make_kind(user, document)
    team.bots = (first["bot"], second["bot"])
    return team


@pytest.fixture
def waiting(user, pipeline, make_task):  # type: ignore[no-untyped-def]
    """A pipeline task whose first stage waits for confirmation."""
    turn = make_task(user, pipeline, prompt="Plan the feature", answer=None)
    await_confirmation(turn.assistant_subtask)
    task = reload(turn.task)
    assert task.status == statuses.PENDING_CONFIRMATION
    return task


# --- skills ---------------------------------------------------------------------------------------


def test_task_skills(api, client_for, user, other_user, make_user, bot_stack, make_task):
    stack = bot_stack(user, "sk")
    ghost = stack["ghost"]
    spec = {**ghost.document["spec"], "skills": ["pdf", "web"], "preload_skills": ["pdf"]}
    Kind.objects.filter(pk=ghost.pk).update(document={**ghost.document, "spec": spec})
    turn = make_task(user, stack["team"], additional_skills=[{"name": "extra"}, {"name": "web"}])
    assert json.loads(turn.task.labels["additionalSkills"]) == ["extra", "web"]

    response = api.get(url(turn.task, "skills"))
    assert response.status_code == 200
    assert response.json() == {
        "task_id": turn.task.pk,
        "team_id": stack["team"].pk,
        "team_namespace": "default",
        "skills": ["pdf", "web", "extra"],
        "preload_skills": ["pdf"],
    }
    add_member(turn.task, other_user)
    assert client_for(other_user).get(url(turn.task, "skills")).status_code == 200
    stranger = client_for(make_user("carol")).get(url(turn.task, "skills"))
    assert stranger.status_code == 404 and stranger.json() == {"detail": "Task not found"}


def test_task_skills_without_a_team(api, user, team, make_task):
    turn = make_task(user, team)
    Kind.objects.filter(pk=team.pk).update(is_active=False)
    body = api.get(url(turn.task, "skills")).json()
    assert body == {
        "task_id": turn.task.pk,
        "team_id": None,
        "team_namespace": "default",
        "skills": [],
        "preload_skills": [],
    }


# --- pipeline stage info ------------------------------------------------------------------------


def test_a_chat_task_is_not_a_pipeline(api, user, team, make_task):
    turn = make_task(user, team)
    response = api.get(url(turn.task, "pipeline-stage-info"))
    assert response.status_code == 200
    assert response.json() == {
        "current_stage": 0,
        "total_stages": 1,
        "current_stage_name": "default",
        "is_pending_confirmation": False,
        "stages": [],
    }
    # Even with its team gone the route answers (the web client calls it on every task view).
    Kind.objects.filter(pk=team.pk).update(is_active=False)
    assert api.get(url(turn.task, "pipeline-stage-info")).status_code == 200


def test_pipeline_stages_follow_the_answers(api, user, pipeline, make_task):
    turn = make_task(user, pipeline, prompt="Plan", answer=None)
    assert turn.assistant_subtask.bot_ids == [pipeline.bots[0].pk]
    info = api.get(url(turn.task, "pipeline-stage-info")).json()
    assert info == {
        "current_stage": 0,
        "total_stages": 2,
        "current_stage_name": "p1-bot",
        "is_pending_confirmation": False,
        "stages": [
            {"index": 0, "name": "p1-bot", "require_confirmation": True, "status": "pending"},
            {"index": 1, "name": "p2-bot", "require_confirmation": False, "status": "pending"},
        ],
    }
    await_confirmation(turn.assistant_subtask)
    info = api.get(url(turn.task, "pipeline-stage-info")).json()
    assert info["is_pending_confirmation"] is True
    assert info["current_stage"] == 0
    assert [s["status"] for s in info["stages"]] == ["pending_confirmation", "pending"]


def test_confirm_continue_starts_the_next_stage(api, user, pipeline, waiting):
    response = api.post(
        url(waiting, "confirm-stage"), {"confirmed_prompt": "Build it", "action": "continue"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "message": "Stage confirmed, proceeding to next stage",
        "task_id": waiting.pk,
        "current_stage": 1,
        "total_stages": 2,
        "next_stage_name": "p2-bot",
    }
    first, second = Subtask.objects.filter(task=waiting, role=Subtask.ASSISTANT).order_by("message_id")
    assert first.status == statuses.COMPLETED
    assert second.bot_ids == [pipeline.bots[1].pk]
    assert (second.prompt, second.status, second.message_id, second.parent_id) == (
        "Build it",
        statuses.PENDING,
        3,
        2,
    )
    assert reload(waiting).status == statuses.PENDING
    info = api.get(url(waiting, "pipeline-stage-info")).json()
    assert (info["current_stage"], info["current_stage_name"]) == (1, "p2-bot")
    assert [s["status"] for s in info["stages"]] == ["completed", "pending"]

    complete(second, "built")
    assert reload(waiting).status == statuses.COMPLETED
    info = api.get(url(waiting, "pipeline-stage-info")).json()
    assert info["current_stage"] == 1 and info["is_pending_confirmation"] is False
    assert [s["status"] for s in info["stages"]] == ["completed", "completed"]
    again = api.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "x"}, format="json")
    assert again.status_code == 400
    assert again.json() == {"detail": "Task is not awaiting confirmation. Current status: COMPLETED"}


def test_confirm_retry_runs_the_stage_again(api, pipeline, waiting):
    response = api.post(
        url(waiting, "confirm-stage"),
        {"confirmed_prompt": "Shorter please", "action": "retry"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "message": "Stage retry initiated",
        "task_id": waiting.pk,
        "current_stage": 0,
        "total_stages": 2,
        "next_stage_name": None,
    }
    answers = list(Subtask.objects.filter(task=waiting, role=Subtask.ASSISTANT).order_by("message_id"))
    assert [a.bot_ids for a in answers] == [[pipeline.bots[0].pk], [pipeline.bots[0].pk]]
    assert [a.status for a in answers] == [statuses.COMPLETED, statuses.PENDING]
    assert answers[1].prompt == "Shorter please"
    assert reload(waiting).status == statuses.PENDING
    info = api.get(url(waiting, "pipeline-stage-info")).json()
    assert info["current_stage"] == 0
    assert [s["status"] for s in info["stages"]] == ["pending", "pending"]


def test_confirm_after_the_last_stage_completes_the_pipeline(api, user, pipeline, waiting):
    api.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "go"}, format="json")
    last = Subtask.objects.filter(task=waiting, role=Subtask.ASSISTANT).order_by("-message_id").first()
    complete(last, "done")
    lifecycle.update_task(
        actor=user, task_id=waiting.pk, changes=lifecycle.TaskChanges(status=statuses.PENDING_CONFIRMATION)
    )
    response = api.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "ok"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Pipeline completed"
    assert response.json()["current_stage"] == 1 and response.json()["next_stage_name"] is None
    task = reload(waiting)
    assert task.status == statuses.COMPLETED and task.state["progress"] == 100
    assert Subtask.objects.filter(task=waiting, role=Subtask.ASSISTANT).count() == 2


def test_confirm_needs_a_pipeline_team(api, user, team, make_task):
    turn = make_task(user, team)
    lifecycle.update_task(
        actor=user, task_id=turn.task.pk, changes=lifecycle.TaskChanges(status=statuses.PENDING_CONFIRMATION)
    )
    response = api.post(url(turn.task, "confirm-stage"), {"confirmed_prompt": "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Stage confirmation is only available for pipeline teams"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"confirmed_prompt": "x", "action": "jump"}, "action"),
        ({"action": "continue"}, "confirmed_prompt"),
        ({"confirmed_prompt": ["x"]}, "confirmed_prompt"),
    ],
)
def test_confirm_bad_input_is_422_and_changes_nothing(api, waiting, body, field):
    assert_validation_error(api.post(url(waiting, "confirm-stage"), body, format="json"), field)
    assert reload(waiting).status == statuses.PENDING_CONFIRMATION
    assert Subtask.objects.filter(task=waiting).count() == 2


def test_confirm_is_the_owners(api, client_for, other_user, make_user, anon_client, waiting):
    add_member(waiting, other_user)
    member = client_for(other_user)
    assert member.get(url(waiting, "pipeline-stage-info")).status_code == 200
    refused = member.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "x"}, format="json")
    assert refused.status_code == 404 and refused.json() == {"detail": "Task not found"}
    stranger = client_for(make_user("carol"))
    assert stranger.get(url(waiting, "pipeline-stage-info")).status_code == 404
    assert (
        stranger.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "x"}, format="json").status_code
        == 404
    )
    assert (
        anon_client.post(url(waiting, "confirm-stage"), {"confirmed_prompt": "x"}, format="json").status_code
        == 401
    )
    assert reload(waiting).status == statuses.PENDING_CONFIRMATION


# --- preserve executor ----------------------------------------------------------------------------


def test_preserve_executor(api, client_for, user, other_user, anon_client, team, make_task):
    task = make_task(user, team).task
    response = api.post(url(task, "preserve-executor"))
    assert response.status_code == 200
    assert response.json() == {
        "task_id": task.pk,
        "preserve_executor": True,
        "message": "Executor will be preserved for this task",
    }
    assert reload(task).labels["preserveExecutor"] == "true"
    assert api.get(f"/api/tasks/{task.pk}").json()["preserve_executor"] is True

    cancelled = api.delete(url(task, "preserve-executor"))
    assert cancelled.json() == {
        "task_id": task.pk,
        "preserve_executor": False,
        "message": "Executor cleanup enabled for this task",
    }
    assert reload(task).labels["preserveExecutor"] == "false"

    add_member(task, other_user)
    assert client_for(other_user).post(url(task, "preserve-executor")).status_code == 404
    assert anon_client.post(url(task, "preserve-executor")).status_code == 401
    assert api.post("/api/tasks/999999/preserve-executor").status_code == 404
    assert reload(task).labels["preserveExecutor"] == "false"


# --- services ------------------------------------------------------------------------------------


def test_services_merge_and_remove(api, user, team, make_task):
    task = make_task(user, team).task
    assert api.get(url(task, "services")).json() == {"app": {}}
    merged = api.post(
        url(task, "services"), {"name": "shop", "host": "10.0.0.2:8080", "previewUrl": None}, format="json"
    )
    assert merged.status_code == 200
    assert merged.json() == {"app": {"name": "shop", "host": "10.0.0.2:8080"}}
    more = api.post(
        url(task, "services"), {"previewUrl": "https://preview.example.com", "other": 1}, format="json"
    )
    assert more.json() == {
        "app": {"name": "shop", "host": "10.0.0.2:8080", "previewUrl": "https://preview.example.com"}
    }
    removed = api.delete(url(task, "services"), {"fields": ["host", "missing"]}, format="json")
    assert removed.json() == {"app": {"name": "shop", "previewUrl": "https://preview.example.com"}}
    assert reload(task).state["app"] == {"name": "shop", "previewUrl": "https://preview.example.com"}
    assert api.get(url(task, "services")).json() == removed.json()
    assert api.get(f"/api/tasks/{task.pk}").json()["app"] == removed.json()["app"]


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("post", {"name": ["x"]}, "name"),
        ("post", {"mysql": "x" * 5000}, "mysql"),
        ("delete", {}, "fields"),
        ("delete", {"fields": "host"}, "fields"),
    ],
)
def test_services_bad_input(api, user, team, make_task, method, body, field):
    task = make_task(user, team).task
    api.post(url(task, "services"), {"name": "keep"}, format="json")
    assert_validation_error(getattr(api, method)(url(task, "services"), body, format="json"), field)
    assert reload(task).state["app"] == {"name": "keep"}


def test_services_access(api, client_for, user, other_user, make_user, anon_client, team, make_task):
    task = make_task(user, team).task
    api.post(url(task, "services"), {"name": "shop"}, format="json")
    add_member(task, other_user)
    member = client_for(other_user)
    assert member.get(url(task, "services")).json() == {"app": {"name": "shop"}}
    assert member.post(url(task, "services"), {"name": "mine"}, format="json").status_code == 404
    assert member.delete(url(task, "services"), {"fields": ["name"]}, format="json").status_code == 404
    stranger = client_for(make_user("carol"))
    assert stranger.get(url(task, "services")).status_code == 404
    assert anon_client.get(url(task, "services")).status_code == 401
    assert reload(task).state["app"] == {"name": "shop"}


def test_deleted_tasks_are_not_found(api, user, team, make_task):
    task = make_task(user, team).task
    lifecycle.delete_task(actor=user, task_id=task.pk)
    for route in ("skills", "pipeline-stage-info", "services"):
        assert api.get(url(task, route)).status_code == 404
    assert api.post(url(task, "preserve-executor")).status_code == 404


def test_confirm_when_the_stage_answer_already_completed(api, user, pipeline, make_task):
    """The executor may end the stage's answer COMPLETED and flag only the task as waiting."""
    turn = make_task(user, pipeline, prompt="Plan", answer="the plan")
    lifecycle.update_task(
        actor=user, task_id=turn.task.pk, changes=lifecycle.TaskChanges(status=statuses.PENDING_CONFIRMATION)
    )
    info = api.get(url(turn.task, "pipeline-stage-info")).json()
    assert (info["current_stage"], info["is_pending_confirmation"]) == (0, True)
    assert [s["status"] for s in info["stages"]] == ["pending_confirmation", "pending"]
    response = api.post(url(turn.task, "confirm-stage"), {"confirmed_prompt": "go on"}, format="json")
    assert response.json()["current_stage"] == 1
    newest = Subtask.objects.filter(task=turn.task).order_by("-message_id").first()
    assert newest.bot_ids == [pipeline.bots[1].pk] and newest.status == statuses.PENDING
    assert reload(turn.task).status == statuses.PENDING


def test_a_turn_that_starts_mid_pipeline(api, user, pipeline, make_task):
    """Stages before the first one answered in the latest turn count as done."""
    turn = make_task(user, pipeline, prompt="Plan", answer="the plan")
    for message_id, role, bot, status in (
        (3, Subtask.USER, None, statuses.COMPLETED),
        (4, Subtask.ASSISTANT, pipeline.bots[1], statuses.RUNNING),
    ):
        Subtask.objects.create(
            task=turn.task,
            user=user,
            team_id=pipeline.pk,
            role=role,
            bot_ids=[bot.pk] if bot else [],
            message_id=message_id,
            parent_id=message_id - 1,
            status=status,
        )
    info = api.get(url(turn.task, "pipeline-stage-info")).json()
    assert (info["current_stage"], info["current_stage_name"]) == (1, "p2-bot")
    assert [s["status"] for s in info["stages"]] == ["completed", "running"]
