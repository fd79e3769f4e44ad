"""Sharing a task by link: the share token, share info, the public view, copying (``/api/tasks/share``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kinds.models import Kind, ResourceMember, ShareLink
from tasks import statuses
from tasks.models import Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle, members, sharing, turns
from tasks.tests.factories import complete, reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(user, team, make_task):  # type: ignore[no-untyped-def]
    """Alice's two-turn conversation."""
    turn = make_task(user, team, prompt="first question", answer="first answer")
    second = turns.start_turn(actor=user, task_id=turn.task.pk, options=turns.TurnOptions(prompt="second"))
    complete(second.assistant_subtask, "second answer")
    return reload(turn.task)


@pytest.fixture
def token(user, shared):  # type: ignore[no-untyped-def]
    return sharing.create_share_token(user, shared.pk)


@pytest.fixture
def bob_team(other_user, bot_stack):  # type: ignore[no-untyped-def]
    return bot_stack(other_user, "b")["team"]


def task_count() -> int:
    return TaskResource.objects.count()


# --- the share token --------------------------------------------------------------------------------------


def test_owner_shares_a_task(api, user, shared, settings):
    settings.TASK_SHARE_BASE_URL = "https://wegent.example"
    response = api.post(f"/api/tasks/{shared.pk}/share")
    assert response.status_code == 200
    body = response.json()
    token = body["share_token"]
    assert body["share_url"] == f"https://wegent.example/shared/task?token={token}"
    link = ShareLink.objects.get(token=token)
    assert (link.purpose, link.resource_type, link.resource_id, link.created_by_id) == (
        "share",
        "Task",
        shared.pk,
        user.pk,
    )
    # Sharing again gives the same link.
    assert api.post(f"/api/tasks/{shared.pk}/share").json()["share_token"] == token
    assert sharing.create_share_token(user, shared.pk) == token
    assert ShareLink.objects.count() == 1


def test_a_revoked_or_expired_link_is_replaced(user, shared, token):
    ShareLink.objects.filter(token=token).update(is_active=False)
    fresh = sharing.create_share_token(user, shared.pk)
    assert fresh != token
    ShareLink.objects.filter(token=fresh).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert sharing.create_share_token(user, shared.pk) not in (token, fresh)


def test_share_refusals(client_for, anon_client, make_user, user, other_user, team, make_task):
    group = make_task(user, team, is_group_chat=True).task
    carol, bob = make_user("carol"), other_user
    members.add_member(actor=user, task_id=group.pk, user_id=carol.pk)
    as_member = client_for(carol).post(f"/api/tasks/{group.pk}/share")
    assert (
        as_member.status_code == 403
        and as_member.json()["detail"] == "Only the task owner can share this task"
    )
    as_stranger = client_for(bob).post(f"/api/tasks/{group.pk}/share")
    assert as_stranger.status_code == 404 and as_stranger.json() == {"detail": "Task not found"}
    assert anon_client.post(f"/api/tasks/{group.pk}/share").status_code == 401
    assert client_for(user).post("/api/tasks/424242/share").status_code == 404
    assert not ShareLink.objects.exists()


def test_task_for_share_token(user, shared, token):
    assert sharing.task_for_share_token(token).pk == shared.pk
    for bad in ("", "nope", "x" * 500, None):
        assert sharing.task_for_share_token(bad) is None  # type: ignore[arg-type]
    ShareLink.objects.filter(token=token).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert sharing.task_for_share_token(token) is None
    ShareLink.objects.filter(token=token).update(expires_at=None, is_active=False)
    assert sharing.task_for_share_token(token) is None
    ShareLink.objects.filter(token=token).update(is_active=True)
    assert sharing.task_for_share_token(token) is not None
    lifecycle.delete_task(actor=user, task_id=shared.pk)
    assert sharing.task_for_share_token(token) is None


# --- share info ---------------------------------------------------------------------------------------------


def test_share_info(client_for, user, other_user, shared, token):
    response = client_for(other_user).get(f"/api/tasks/share/info?share_token={token}")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user.pk,
        "user_name": "alice",
        "task_id": shared.pk,
        "task_title": "first question",
        "task_type": "chat",
        "git_repo_id": None,
        "git_repo": None,
        "git_domain": None,
        "git_type": None,
        "branch_name": None,
    }


def test_share_info_of_a_code_task_names_the_repository(client_for, user, other_user, team, make_task):
    task = make_task(
        user,
        team,
        task_type="code",
        type="offline",
        git_url="https://github.com/org/repo.git",
        git_repo="org/repo",
        git_repo_id=7,
        git_domain="github.com",
        branch_name="main",
    ).task
    token = sharing.create_share_token(user, task.pk)
    body = client_for(other_user).get(f"/api/tasks/share/info?share_token={token}").json()
    assert body["task_type"] == "code"
    assert (
        body["git_repo_id"],
        body["git_repo"],
        body["git_domain"],
        body["git_type"],
        body["branch_name"],
    ) == (
        7,
        "org/repo",
        "github.com",
        "github",
        "main",
    )


def test_share_info_bad_tokens(client_for, anon_client, user, other_user, shared, token):
    client = client_for(other_user)
    assert anon_client.get(f"/api/tasks/share/info?share_token={token}").status_code == 401
    assert_validation_error(client.get("/api/tasks/share/info"), "share_token")
    forged = client.get("/api/tasks/share/info?share_token=forged")
    assert forged.status_code == 400 and forged.json()["detail"] == "Invalid share token"
    ShareLink.objects.filter(token=token).update(is_active=False)
    revoked = client.get(f"/api/tasks/share/info?share_token={token}")
    assert revoked.status_code == 404 and revoked.json()["detail"] == "Task not found or no longer available"
    ShareLink.objects.filter(token=token).update(is_active=True)
    lifecycle.delete_task(actor=user, task_id=shared.pk)
    assert client.get(f"/api/tasks/share/info?share_token={token}").status_code == 404


# --- the public view ----------------------------------------------------------------------------------------


def test_public_view_lists_the_conversation(client_for, user, other_user, shared, token):
    first_question = Subtask.objects.get(task=shared, message_id=1)
    SubtaskContext.objects.create(
        subtask=first_question,
        user=user,
        name="notes.txt",
        status="ready",
        type_data={"file_extension": ".txt", "file_size": 12, "mime_type": "text/plain"},
    )
    Subtask.objects.filter(task=shared, message_id=4).update(status=statuses.DELETE)
    response = client_for(other_user).get(f"/api/tasks/share/public?token={token}")
    assert response.status_code == 200
    body = response.json()
    assert body["task_title"] == "first question" and body["sharer_name"] == "alice"
    assert body["sharer_id"] == user.pk and body["created_at"]
    assert [(m["role"], m["prompt"]) for m in body["subtasks"]] == [
        ("USER", "first question"),
        ("ASSISTANT", ""),
        ("USER", "second"),
    ]
    first, answer = body["subtasks"][0], body["subtasks"][1]
    assert set(first) == set(sharing.PUBLIC_MESSAGE_FIELDS)
    assert first["sender_type"] == "USER" and first["sender_user_id"] == user.pk
    assert first["sender_user_name"] == "alice"
    assert first["contexts"] == [
        {
            "id": first["contexts"][0]["id"],
            "context_type": "attachment",
            "name": "notes.txt",
            "status": "ready",
            "file_extension": ".txt",
            "file_size": 12,
            "mime_type": "text/plain",
        }
    ]
    assert answer["result"] == {"value": "first answer"} and answer["status"] == "COMPLETED"


def test_public_view_bad_tokens(client_for, anon_client, user, other_user, shared, token):
    client = client_for(other_user)
    assert anon_client.get(f"/api/tasks/share/public?token={token}").status_code == 401
    assert_validation_error(client.get("/api/tasks/share/public"), "token")
    forged = client.get("/api/tasks/share/public?token=forged")
    assert forged.status_code == 400 and forged.json()["detail"] == "Invalid share link format"
    ShareLink.objects.filter(token=token).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    expired = client.get(f"/api/tasks/share/public?token={token}")
    assert expired.status_code == 404
    assert expired.json()["detail"].startswith("This shared task is no longer available")
    # An invite token does not open the public view.
    group_invite = ShareLink.objects.create(
        resource_type="Task", resource_id=shared.pk, purpose="invite", token="invite-token", created_by=user
    )
    assert client.get(f"/api/tasks/share/public?token={group_invite.token}").status_code == 400


# --- copying ------------------------------------------------------------------------------------------------


def test_join_copies_the_task_for_the_caller(client_for, user, other_user, shared, token, bob_team):
    client = client_for(other_user)
    response = client.post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "Successfully copied shared task to your task list"
    copy = TaskResource.objects.get(pk=body["task_id"])
    assert copy.owner_id == other_user.pk and copy.kind == "Task" and copy.name == f"task-{copy.pk}"
    assert copy.listed and copy.status == statuses.COMPLETED and not copy.is_group_chat
    assert copy.spec["title"] == "first question"
    assert copy.spec["teamRef"] == {"name": "b-team", "namespace": "default", "user_id": other_user.pk}
    assert copy.labels["copiedFromTaskId"] == str(shared.pk) and "modelId" not in copy.labels
    workspace = TaskResource.objects.get(kind="Workspace", name=f"workspace-{copy.pk}")
    assert workspace.owner_id == other_user.pk
    rows = list(Subtask.objects.filter(task=copy).order_by("message_id"))
    originals = list(Subtask.objects.filter(task=shared).order_by("message_id"))
    assert [(r.role, r.message_id, r.parent_id, r.prompt, r.result) for r in rows] == [
        (r.role, r.message_id, r.parent_id, r.prompt, r.result) for r in originals
    ]
    assert {r.status for r in rows} == {statuses.COMPLETED}
    assert {r.user_id for r in rows} == {other_user.pk} and {r.team_id for r in rows} == {bob_team.pk}
    bob_bot = bob_team.spec["members"][0]["botRef"]["name"]
    assert {tuple(r.bot_ids) for r in rows} == {
        (Kind.objects.get(owner=other_user, kind="Bot", name=bob_bot).pk,)
    }
    assert rows[0].sender_user_id == user.pk
    # The copy grants nothing on the original.
    assert not ResourceMember.objects.exists()
    # The conversation goes on in the copy.
    turn = turns.start_turn(actor=other_user, task_id=copy.pk, options=turns.TurnOptions(prompt="third"))
    assert turn.user_subtask.message_id == 5 and turn.team.pk == bob_team.pk


def test_join_with_model_and_team(client_for, other_user, shared, token, bob_team):
    response = client_for(other_user).post(
        "/api/tasks/share/join",
        {
            "share_token": token,
            "team_id": bob_team.pk,
            "model_id": "gpt-x",
            "force_override_bot_model_type": "user",
        },
        format="json",
    )
    assert response.status_code == 200
    labels = TaskResource.objects.get(pk=response.json()["task_id"]).labels
    assert labels["modelId"] == "gpt-x" and labels["forceOverrideBotModel"] == "true"
    assert labels["forceOverrideBotModelType"] == "user"


def test_join_refusals_write_nothing(
    client_for, anon_client, user, team, other_user, shared, token, bob_team
):
    client = client_for(other_user)
    before = task_count()
    assert anon_client.post("/api/tasks/share/join", {"share_token": token}, format="json").status_code == 401
    assert_validation_error(client.post("/api/tasks/share/join", {}, format="json"), "share_token")
    assert_validation_error(
        client.post("/api/tasks/share/join", {"share_token": token, "team_id": "x"}, format="json"), "team_id"
    )
    assert_validation_error(
        client.post("/api/tasks/share/join", {"share_token": token, "git_repo_id": -1}, format="json"),
        "git_repo_id",
    )
    forged = client.post("/api/tasks/share/join", {"share_token": "forged"}, format="json")
    assert forged.status_code == 400 and forged.json()["detail"] == "Invalid share token"
    # Alice's team is not bob's to use.
    foreign = client.post("/api/tasks/share/join", {"share_token": token, "team_id": team.pk}, format="json")
    assert (
        foreign.status_code == 400
        and foreign.json()["detail"] == "Invalid team_id or team does not belong to you"
    )
    own = client_for(user).post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert own.status_code == 400 and own.json()["detail"] == "Cannot copy your own shared task"
    assert task_count() == before
    assert client.post("/api/tasks/share/join", {"share_token": token}, format="json").status_code == 200
    after_first = task_count()
    again = client.post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert again.status_code == 400 and again.json()["detail"] == "You have already copied this task"
    assert task_count() == after_first
    ShareLink.objects.filter(token=token).update(is_active=False)
    revoked = client.post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert revoked.status_code == 404 and revoked.json()["detail"] == "Task not found or no longer available"


def test_join_after_deleting_the_copy_copies_again(client_for, other_user, shared, token, bob_team):
    client = client_for(other_user)
    first = client.post("/api/tasks/share/join", {"share_token": token}, format="json").json()["task_id"]
    lifecycle.delete_task(actor=other_user, task_id=first)
    second = client.post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert second.status_code == 200 and second.json()["task_id"] != first


def test_join_needs_a_team(client_for, make_user, shared, token):
    carol = make_user("carol")
    before = task_count()
    response = client_for(carol).post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "You need to have at least one team to copy a shared task"
    assert task_count() == before


def test_join_of_a_code_task_needs_a_repository(client_for, user, team, make_task, other_user, bob_team):
    task = make_task(
        user, team, task_type="code", type="offline", git_repo="org/repo", branch_name="main"
    ).task
    token = sharing.create_share_token(user, task.pk)
    client = client_for(other_user)
    before = task_count()
    refused = client.post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert refused.status_code == 400 and refused.json()["detail"].startswith("Repository and branch")
    assert task_count() == before
    response = client.post(
        "/api/tasks/share/join",
        {
            "share_token": token,
            "git_repo": "bob/repo",
            "branch_name": "dev",
            "git_repo_id": 3,
            "git_url": None,
        },
        format="json",
    )
    assert response.status_code == 200
    copy = TaskResource.objects.get(pk=response.json()["task_id"])
    workspace = TaskResource.objects.get(kind="Workspace", name=copy.spec["workspaceRef"]["name"])
    assert (
        workspace.spec["repository"]["gitRepo"] == "bob/repo"
        and workspace.spec["repository"]["gitRepoId"] == 3
    )
    assert copy.labels["taskType"] == "code" and copy.labels["type"] == "offline"


def test_join_keeps_the_callers_reserved_id(client_for, other_user, shared, token, bob_team):
    reserved = turns.reserve_task_id(other_user)
    response = client_for(other_user).post("/api/tasks/share/join", {"share_token": token}, format="json")
    assert response.json()["task_id"] != reserved
    assert TaskResource.objects.get(pk=reserved).kind == "Placeholder"


def test_copied_replies_point_into_the_copy(client_for, other_user, shared, token, bob_team):
    question, answer = Subtask.objects.filter(task=shared).order_by("message_id")[:2]
    Subtask.objects.filter(pk=answer.pk).update(reply_to_subtask_id=question.pk)
    copy_id = (
        client_for(other_user)
        .post("/api/tasks/share/join", {"share_token": token}, format="json")
        .json()["task_id"]
    )
    copied_question, copied_answer = Subtask.objects.filter(task_id=copy_id).order_by("message_id")[:2]
    assert copied_answer.reply_to_subtask_id == copied_question.pk
