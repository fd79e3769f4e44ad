"""Group chats: converting a task, its members, invite links (``/api/tasks/{id}/members`` & co)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kinds.models import ResourceMember, ShareLink
from tasks import documents
from tasks.models import TaskResource
from tasks.services import events, lifecycle, members
from tasks.tests.factories import reload
from wegent.tests.helpers import assert_validation_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(make_user):  # type: ignore[no-untyped-def]
    return make_user("carol")


@pytest.fixture
def group(user, team, make_task):  # type: ignore[no-untyped-def]
    """Alice's group chat."""
    return make_task(user, team, is_group_chat=True).task


@pytest.fixture
def member(group, user, carol):  # type: ignore[no-untyped-def]
    """Carol, an approved member of alice's group chat."""
    members.add_member(actor=user, task_id=group.pk, user_id=carol.pk)
    return carol


def membership(task: TaskResource, user) -> ResourceMember | None:  # type: ignore[no-untyped-def]
    return ResourceMember.objects.filter(resource_type="Task", resource_id=task.pk, user=user).first()


def invite_token(client, task: TaskResource, hours: int = 0) -> str:  # type: ignore[no-untyped-def]
    response = client.post(f"/api/tasks/{task.pk}/invite-link?expires_hours={hours}")
    assert response.status_code == 200, response.content
    return response.json()["invite_token"]


# --- convert ------------------------------------------------------------------------------------------


def test_owner_converts_a_task_to_group_chat(api, user, team, make_task):
    task = make_task(user, team).task
    assert not task.is_group_chat
    response = api.post(f"/api/tasks/{task.pk}/convert-to-group-chat")
    assert response.status_code == 200
    assert response.json() == {
        "message": "Task converted to group chat successfully",
        "task_id": task.pk,
        "is_group_chat": True,
    }
    task = reload(task)
    assert task.is_group_chat and task.spec["is_group_chat"] is True
    again = api.post(f"/api/tasks/{task.pk}/convert-to-group-chat")
    assert again.status_code == 200 and again.json()["message"] == "Task is already a group chat"


def test_convert_refuses_members_strangers_and_anonymous(
    client_for, anon_client, user, team, make_task, carol, other_user
):
    task = make_task(user, team).task
    # An approved member of a task that is not (yet) a group chat: a member, still not the owner.
    ResourceMember.objects.create(resource_type="Task", resource_id=task.pk, user=carol, status="approved")
    as_member = client_for(carol).post(f"/api/tasks/{task.pk}/convert-to-group-chat")
    assert as_member.status_code == 403
    assert as_member.json()["detail"] == "Only the task owner can convert this task to group chat"
    as_stranger = client_for(other_user).post(f"/api/tasks/{task.pk}/convert-to-group-chat")
    assert as_stranger.status_code == 404 and as_stranger.json() == {"detail": "Task not found"}
    assert anon_client.post(f"/api/tasks/{task.pk}/convert-to-group-chat").status_code == 401
    assert client_for(user).post("/api/tasks/999999/convert-to-group-chat").status_code == 404
    assert not reload(task).is_group_chat


# --- list ---------------------------------------------------------------------------------------------


def test_owner_and_members_see_the_member_list(api, client_for, user, group, member):
    body = api.get(f"/api/tasks/{group.pk}/members").json()
    assert body["total"] == 2 and body["task_owner_id"] == user.pk
    owner, carol = body["members"]
    assert owner["id"] == 0 and owner["is_owner"] is True and owner["user_id"] == user.pk
    assert owner["username"] == "alice" and owner["status"] == "ACTIVE"
    row = membership(group, member)
    assert carol == {
        "id": row.pk,
        "task_id": group.pk,
        "user_id": member.pk,
        "username": "carol",
        "avatar": None,
        "invited_by": user.pk,
        "inviter_name": "alice",
        "status": "ACTIVE",
        "joined_at": carol["joined_at"],
        "is_owner": False,
    }
    assert carol["joined_at"]
    as_member = client_for(member).get(f"/api/tasks/{group.pk}/members")
    assert as_member.status_code == 200 and as_member.json()["total"] == 2


def test_member_list_is_hidden_from_strangers(client_for, anon_client, other_user, group):
    response = client_for(other_user).get(f"/api/tasks/{group.pk}/members")
    assert response.status_code == 404 and response.json() == {"detail": "Task not found"}
    assert anon_client.get(f"/api/tasks/{group.pk}/members").status_code == 401


# --- add ----------------------------------------------------------------------------------------------


def test_owner_adds_a_member(api, user, group, carol):
    response = api.post(f"/api/tasks/{group.pk}/members", {"user_id": carol.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user_id"] == carol.pk and body["username"] == "carol" and body["status"] == "ACTIVE"
    assert body["invited_by"] == user.pk and body["inviter_name"] == "alice" and body["is_owner"] is False
    row = membership(group, carol)
    assert row.status == "approved" and row.invited_by_user_id == user.pk and body["id"] == row.pk


def test_a_member_may_add_others_and_it_is_announced(
    client_for, group, member, other_user, django_capture_on_commit_callbacks
):
    seen = []
    with events.task_listeners.registered(seen.append), django_capture_on_commit_callbacks(execute=True):
        response = client_for(member).post(
            f"/api/tasks/{group.pk}/members", {"user_id": other_user.pk}, format="json"
        )
    assert response.status_code == 200
    assert membership(group, other_user).invited_by_user_id == member.pk
    assert [task.pk for task in seen] == [group.pk]


@pytest.mark.parametrize(
    ("target", "status", "detail"),
    [
        ("nobody", 404, "User not found"),
        ("owner", 400, "User is already a member"),
        ("member", 400, "User is already a member"),
    ],
)
def test_adding_an_unknown_user_the_owner_or_a_member_is_refused(
    api, user, group, member, target, status, detail
):
    user_id = {"nobody": 987654, "owner": user.pk, "member": member.pk}[target]
    before = ResourceMember.objects.count()
    response = api.post(f"/api/tasks/{group.pk}/members", {"user_id": user_id}, format="json")
    assert response.status_code == status and response.json()["detail"] == detail
    assert ResourceMember.objects.count() == before


def test_adding_needs_a_group_chat_and_access(api, client_for, user, team, make_task, carol, other_user):
    task = make_task(user, team).task
    response = api.post(f"/api/tasks/{task.pk}/members", {"user_id": carol.pk}, format="json")
    assert response.status_code == 400 and response.json()["detail"] == "This task is not a group chat"
    group = make_task(user, team, is_group_chat=True).task
    as_stranger = client_for(other_user).post(
        f"/api/tasks/{group.pk}/members", {"user_id": carol.pk}, format="json"
    )
    assert as_stranger.status_code == 404
    assert not ResourceMember.objects.exists()


def test_add_member_bad_input(api, anon_client, group, carol):
    assert_validation_error(
        api.post(f"/api/tasks/{group.pk}/members", {"user_id": "x"}, format="json"), "user_id"
    )
    assert_validation_error(api.post(f"/api/tasks/{group.pk}/members", {}, format="json"), "user_id")
    # Past what an id column holds: refused at the edge (wegent.api.validation), like any integer.
    huge = api.post(f"/api/tasks/{group.pk}/members", {"user_id": 10**30}, format="json")
    assert_validation_error(huge, "user_id")
    missing = api.post(f"/api/tasks/{group.pk}/members", {"user_id": 2**63 - 1}, format="json")
    assert missing.status_code == 404 and missing.json()["detail"] == "User not found"
    assert (
        anon_client.post(f"/api/tasks/{group.pk}/members", {"user_id": carol.pk}, format="json").status_code
        == 401
    )
    assert not ResourceMember.objects.exists()


def test_adding_a_removed_member_reactivates_the_same_row(api, group, member):
    row = membership(group, member)
    assert api.delete(f"/api/tasks/{group.pk}/members/{member.pk}").status_code == 200
    assert membership(group, member).status == "rejected"
    response = api.post(f"/api/tasks/{group.pk}/members", {"user_id": member.pk}, format="json")
    assert response.status_code == 200
    again = membership(group, member)
    assert again.pk == row.pk and again.status == "approved" and again.reviewed_by_user_id == 0


# --- remove and leave ------------------------------------------------------------------------------------


def test_owner_removes_a_member(api, client_for, user, group, member):
    response = api.delete(f"/api/tasks/{group.pk}/members/{member.pk}")
    assert response.status_code == 200
    assert response.json() == {"message": "Member removed successfully", "user_id": member.pk}
    row = membership(group, member)
    assert row.status == "rejected" and row.reviewed_by_user_id == user.pk
    # The removed member lost access.
    assert client_for(member).get(f"/api/tasks/{group.pk}/members").status_code == 404
    assert api.get(f"/api/tasks/{group.pk}/members").json()["total"] == 1


def test_remove_refusals(api, client_for, anon_client, user, group, member, other_user):
    as_member = client_for(member).delete(f"/api/tasks/{group.pk}/members/{member.pk}")
    assert (
        as_member.status_code == 403
        and as_member.json()["detail"] == "Only the task owner can remove members"
    )
    owner = api.delete(f"/api/tasks/{group.pk}/members/{user.pk}")
    assert owner.status_code == 400 and owner.json()["detail"] == "Cannot remove the task owner"
    nobody = api.delete(f"/api/tasks/{group.pk}/members/{other_user.pk}")
    assert nobody.status_code == 404 and nobody.json()["detail"] == "Member not found"
    assert client_for(other_user).delete(f"/api/tasks/{group.pk}/members/{member.pk}").status_code == 404
    assert anon_client.delete(f"/api/tasks/{group.pk}/members/{member.pk}").status_code == 401
    assert api.delete(f"/api/tasks/{group.pk}/members/99999999999999999999").status_code == 404
    assert membership(group, member).status == "approved"


def test_member_leaves(client_for, group, member):
    client = client_for(member)
    response = client.post(f"/api/tasks/{group.pk}/leave")
    assert response.status_code == 200
    assert response.json() == {"message": "Successfully left the group chat", "user_id": member.pk}
    assert membership(group, member).status == "rejected"
    assert client.post(f"/api/tasks/{group.pk}/leave").status_code == 404


def test_leave_refusals(api, client_for, anon_client, group, member, other_user):
    owner = api.post(f"/api/tasks/{group.pk}/leave")
    assert owner.status_code == 400 and owner.json()["detail"] == "Task owner cannot leave the group chat"
    assert client_for(other_user).post(f"/api/tasks/{group.pk}/leave").status_code == 404
    assert anon_client.post(f"/api/tasks/{group.pk}/leave").status_code == 401
    assert membership(group, member).status == "approved"


# --- invite links --------------------------------------------------------------------------------------


def test_owner_creates_invite_links(api, user, group, settings):
    settings.TASK_SHARE_BASE_URL = "https://wegent.example"
    response = api.post(f"/api/tasks/{group.pk}/invite-link?expires_hours=24")
    assert response.status_code == 200
    body = response.json()
    token = body["invite_token"]
    assert body == {
        "invite_url": f"https://wegent.example/chat?invite={token}",
        "invite_token": token,
        "expires_hours": 24,
    }
    link = ShareLink.objects.get(token=token)
    assert link.purpose == "invite" and link.resource_type == "Task" and link.resource_id == group.pk
    assert link.created_by_id == user.pk and link.is_active
    assert (
        timezone.now() + dt.timedelta(hours=23) < link.expires_at <= timezone.now() + dt.timedelta(hours=24)
    )
    forever = api.post(f"/api/tasks/{group.pk}/invite-link").json()
    assert forever["expires_hours"] == 0
    assert ShareLink.objects.get(token=forever["invite_token"]).expires_at is None
    assert forever["invite_token"] != token


def test_members_may_create_invite_links(client_for, group, member):
    token = invite_token(client_for(member), group, 1)
    assert ShareLink.objects.get(token=token).created_by_id == member.pk


@pytest.mark.parametrize("hours", ["721", "-1", "x", "1.5"])
def test_invite_link_hours_out_of_range(api, group, hours):
    assert_validation_error(
        api.post(f"/api/tasks/{group.pk}/invite-link?expires_hours={hours}"), "expires_hours"
    )
    assert not ShareLink.objects.exists()


def test_invite_link_refusals(api, client_for, anon_client, user, team, make_task, group, other_user):
    task = make_task(user, team).task
    not_group = api.post(f"/api/tasks/{task.pk}/invite-link")
    assert not_group.status_code == 400 and not_group.json()["detail"] == "This task is not a group chat"
    assert client_for(other_user).post(f"/api/tasks/{group.pk}/invite-link").status_code == 404
    assert anon_client.post(f"/api/tasks/{group.pk}/invite-link").status_code == 401
    assert not ShareLink.objects.exists()


def test_invite_info(api, client_for, user, group, member, other_user):
    token = invite_token(api, group, 48)
    response = client_for(other_user).get(f"/api/tasks/invite/info?token={token}")
    assert response.status_code == 200
    body = response.json()
    link = ShareLink.objects.get(token=token)
    assert body == {
        "task_id": group.pk,
        "task_title": group.spec["title"],
        "inviter_id": user.pk,
        "inviter_name": "alice",
        "team_name": "t-team",
        "member_count": 2,
        "expires_at": documents.iso(link.expires_at),
    }
    forever = invite_token(api, group)
    assert client_for(other_user).get(f"/api/tasks/invite/info?token={forever}").json()["expires_at"] is None


def test_invite_info_bad_tokens(api, client_for, anon_client, user, group, member, other_user):
    client = client_for(other_user)
    token = invite_token(api, group, 1)
    assert anon_client.get(f"/api/tasks/invite/info?token={token}").status_code == 401
    assert_validation_error(client.get("/api/tasks/invite/info"), "token")
    for bad in ("nope", "x" * 300):
        response = client.get(f"/api/tasks/invite/info?token={bad}")
        assert response.status_code == 400 and response.json()["detail"] == "Invalid invite link"
    ShareLink.objects.filter(token=token).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    expired = client.get(f"/api/tasks/invite/info?token={token}")
    assert expired.status_code == 400 and expired.json()["detail"] == "Invite link has expired"
    revoked = invite_token(api, group)
    ShareLink.objects.filter(token=revoked).update(is_active=False)
    assert client.get(f"/api/tasks/invite/info?token={revoked}").status_code == 400
    # A link made by a member stops working once that member is removed.
    by_member = invite_token(client_for(member), group)
    api.delete(f"/api/tasks/{group.pk}/members/{member.pk}")
    assert client.get(f"/api/tasks/invite/info?token={by_member}").json()["detail"] == "Invalid invite link"
    # A share token is not an invite token.
    share = api.post(f"/api/tasks/{group.pk}/share").json()["share_token"]
    assert client.get(f"/api/tasks/invite/info?token={share}").status_code == 400


def test_invite_of_a_deleted_task(api, client_for, user, group, other_user):
    token = invite_token(api, group)
    lifecycle.delete_task(actor=user, task_id=group.pk)
    response = client_for(other_user).get(f"/api/tasks/invite/info?token={token}")
    assert response.status_code == 404 and response.json()["detail"] == "Task not found"
    assert client_for(other_user).post(f"/api/tasks/invite/join?token={token}").status_code == 404
    assert membership(group, other_user) is None


def test_join_by_invite(api, client_for, user, group, other_user):
    token = invite_token(api, group)
    client = client_for(other_user)
    response = client.post(f"/api/tasks/invite/join?token={token}")
    assert response.status_code == 200
    assert response.json() == {
        "message": "Successfully joined the group chat",
        "task_id": group.pk,
        "already_member": False,
    }
    row = membership(group, other_user)
    link = ShareLink.objects.get(token=token)
    assert row.status == "approved" and row.share_link_id == link.pk and row.invited_by_user_id == user.pk
    assert client.get(f"/api/tasks/{group.pk}/members").json()["total"] == 2
    again = client.post(f"/api/tasks/invite/join?token={token}").json()
    assert again["already_member"] is True and again["message"] == "You are already a member"
    assert api.post(f"/api/tasks/invite/join?token={token}").json()["already_member"] is True
    assert ResourceMember.objects.count() == 1


def test_removed_member_rejoins_by_invite(api, client_for, group, member):
    token = invite_token(api, group)
    api.delete(f"/api/tasks/{group.pk}/members/{member.pk}")
    response = client_for(member).post(f"/api/tasks/invite/join?token={token}")
    assert response.status_code == 200 and response.json()["already_member"] is False
    assert membership(group, member).status == "approved"


def test_join_refusals_write_nothing(api, client_for, anon_client, group, other_user):
    client = client_for(other_user)
    token = invite_token(api, group)
    assert anon_client.post(f"/api/tasks/invite/join?token={token}").status_code == 401
    assert_validation_error(client.post("/api/tasks/invite/join"), "token")
    bad = client.post("/api/tasks/invite/join?token=forged")
    assert bad.status_code == 400 and bad.json()["detail"] == "Invalid invite link"
    expired = invite_token(api, group, 1)
    ShareLink.objects.filter(token=expired).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert (
        client.post(f"/api/tasks/invite/join?token={expired}").json()["detail"] == "Invite link has expired"
    )
    # The task stopped being a group chat after the link was made.
    group.document = documents.changed(group.document, spec={"is_group_chat": False})
    group.save(update_fields=["document", "updated_at"])
    not_group = client.post(f"/api/tasks/invite/join?token={token}")
    assert not_group.status_code == 400 and not_group.json()["detail"] == "This task is not a group chat"
    assert not ResourceMember.objects.exists()
