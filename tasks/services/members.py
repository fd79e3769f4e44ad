"""Group chats: converting a task, its members, and invite links (reference §6.9, §2.6).

Roles: the owner manages the chat (converts it, removes members); every approved member takes
part (sees the member list, adds people, makes invite links, leaves), as in the reference where
any member may invite. Members are ``ResourceMember`` rows (resource type "Task", status
approved); the owner is always a member and never has a row. Removing or leaving sets the row
to rejected, so adding the person again re-activates the same row.

Invite links are ``ShareLink`` rows (purpose "invite") with a random token, not the reference's
AES-encrypted "invite#task#inviter#expiry" string: a link can be looked up, expired and revoked
in the database, and it stops working when its creator is no longer in the chat.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kinds.models import ResourceMember, ShareLink
from tasks import documents, selectors
from tasks.exceptions import TaskNotFound
from tasks.models import TASK, TaskResource
from tasks.services import events
from tasks.services.turns import team_of
from wegent.errors import BadRequest, Forbidden, InvalidInput, NotFound

INVITE = "invite"
MAX_INVITE_HOURS = 720
# Longer strings are never tokens we issued (ShareLink.token holds 128 characters).
MAX_TOKEN_CHARS = 128
ACTIVE, REMOVED = "ACTIVE", "REMOVED"
NOT_GROUP_CHAT = "This task is not a group chat"
ALREADY_MEMBER = "User is already a member"
INVALID_INVITE = "Invalid invite link"


# --- shared helpers (also used by sharing and task_knowledge) -------------------------------------


def locked_task(task_id: int) -> TaskResource | None:
    """The active Task with this id, locked for the rest of the caller's transaction."""
    if not 0 < task_id <= selectors.MAX_ID:
        return None
    return TaskResource.objects.select_for_update().filter(pk=task_id, kind=TASK, is_active=True).first()


def require_access(actor: User, task: TaskResource | None) -> TaskResource:
    """Owner or approved member; anyone else gets 404 "Task not found" (no existence leak)."""
    if task is None or not selectors.can_access(actor, task):
        raise TaskNotFound()
    return task


def require_owner(actor: User, task: TaskResource | None, refusal: str) -> TaskResource:
    """The owner passes; a member gets 403 ``refusal``; anyone else 404."""
    task = require_access(actor, task)
    if task.owner_id != actor.pk:
        raise Forbidden(refusal)
    return task


def now_iso() -> str:
    return documents.iso(timezone.now()) or ""


def active_user(user_id: int) -> User | None:
    if not 0 < user_id <= selectors.MAX_ID:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def member_count(task: TaskResource) -> int:
    """Approved members plus the owner."""
    return selectors.approved_members(task.pk).count() + 1


def task_title(task: TaskResource) -> str:
    return str(task.spec.get("title") or task.name or "Untitled")


# --- shapes ---------------------------------------------------------------------------------------


def _member_item(row: ResourceMember, user: User, inviter: User | None) -> dict[str, Any]:
    """``TaskMemberResponse``."""
    return {
        "id": row.pk,
        "task_id": row.resource_id,
        "user_id": user.pk,
        "username": user.user_name,
        "avatar": None,
        "invited_by": row.invited_by_user_id,
        "inviter_name": inviter.user_name if inviter is not None else "Unknown",
        "status": ACTIVE if row.status == ResourceMember.APPROVED else REMOVED,
        "joined_at": row.requested_at,
        "is_owner": False,
    }


def _owner_item(task: TaskResource) -> dict[str, Any]:
    owner = task.owner
    return {
        "id": 0,
        "task_id": task.pk,
        "user_id": owner.pk,
        "username": owner.user_name,
        "avatar": None,
        "invited_by": owner.pk,
        "inviter_name": owner.user_name,
        "status": ACTIVE,
        "joined_at": task.created_at,
        "is_owner": True,
    }


# --- group chat -----------------------------------------------------------------------------------


def convert_to_group_chat(*, actor: User, task_id: int) -> bool:
    """Marks the task a group chat; False when it already was one."""
    with transaction.atomic():
        task = require_owner(
            actor, locked_task(task_id), "Only the task owner can convert this task to group chat"
        )
        if task.is_group_chat:
            return False
        task.document = documents.changed(task.document, spec={"is_group_chat": True}, updatedAt=now_iso())
        task.save(update_fields=["document", "updated_at"])
    events.task_changed(task)
    return True


# --- members --------------------------------------------------------------------------------------


def list_members(*, actor: User, task_id: int) -> dict[str, Any]:
    """``{members, total, task_owner_id}``: the owner first, then approved members by join order."""
    task = require_access(actor, selectors.task_row(task_id))
    rows = list(
        selectors.approved_members(task.pk).filter(user__is_active=True).select_related("user").order_by("id")
    )
    inviter_ids = {row.invited_by_user_id for row in rows if row.invited_by_user_id > 0}
    inviters = {user.pk: user for user in User.objects.filter(pk__in=inviter_ids)} if inviter_ids else {}
    members = [_owner_item(task)]
    members += [_member_item(row, row.user, inviters.get(row.invited_by_user_id)) for row in rows]
    return {"members": members, "total": len(members), "task_owner_id": task.owner_id}


def _approve(
    task: TaskResource, user: User, *, invited_by: int, share_link_id: int = 0
) -> tuple[ResourceMember, bool]:
    """Makes ``user`` an approved member, re-activating an old row; (row, was already a member)."""
    row = (
        ResourceMember.objects.select_for_update()
        .filter(resource_type=ResourceMember.TASK, resource_id=task.pk, user=user)
        .first()
    )
    if row is not None and row.status == ResourceMember.APPROVED:
        return row, True
    now = timezone.now()
    if row is None:
        row = ResourceMember(resource_type=ResourceMember.TASK, resource_id=task.pk, user=user)
    row.status = ResourceMember.APPROVED
    # Members write messages, so they get "edit" (the reference gives them its Maintainer role).
    row.permission_level = ResourceMember.EDIT
    row.invited_by_user_id = invited_by
    row.share_link_id = share_link_id
    row.reviewed_by_user_id = 0
    row.reviewed_at = None
    row.requested_at = now
    row.save()
    return row, False


def add_member(*, actor: User, task_id: int, user_id: int) -> dict[str, Any]:
    """Any member adds someone to a group chat (the reference's rule); a removed member comes back."""
    with transaction.atomic():
        task = require_access(actor, locked_task(task_id))
        target = active_user(user_id)
        if target is None:
            raise NotFound("User not found")
        if not task.is_group_chat:
            raise BadRequest(NOT_GROUP_CHAT)
        if target.pk == task.owner_id:
            raise BadRequest(ALREADY_MEMBER)
        row, already = _approve(task, target, invited_by=actor.pk)
        if already:
            raise BadRequest(ALREADY_MEMBER)
    events.task_changed(task)
    return _member_item(row, target, actor)


def _remove(task: TaskResource, user_id: int, *, by: User) -> bool:
    if not 0 < user_id <= selectors.MAX_ID:
        return False
    now = timezone.now()
    changed = (
        selectors.approved_members(task.pk)
        .filter(user_id=user_id)
        .update(status=ResourceMember.REJECTED, reviewed_by_user_id=by.pk, reviewed_at=now, updated_at=now)
    )
    return changed > 0


def remove_member(*, actor: User, task_id: int, user_id: int) -> dict[str, Any]:
    with transaction.atomic():
        task = require_owner(actor, locked_task(task_id), "Only the task owner can remove members")
        if user_id == task.owner_id:
            raise BadRequest("Cannot remove the task owner")
        if not _remove(task, user_id, by=actor):
            raise NotFound("Member not found")
    events.task_changed(task)
    return {"message": "Member removed successfully", "user_id": user_id}


def leave(*, actor: User, task_id: int) -> dict[str, Any]:
    with transaction.atomic():
        task = require_access(actor, locked_task(task_id))
        if task.owner_id == actor.pk:
            raise BadRequest("Task owner cannot leave the group chat")
        if not _remove(task, actor.pk, by=actor):
            raise TaskNotFound()
    events.task_changed(task)
    return {"message": "Successfully left the group chat", "user_id": actor.pk}


# --- invite links ---------------------------------------------------------------------------------


def invite_url(token: str) -> str:
    return f"{settings.TASK_SHARE_BASE_URL}/chat?invite={token}"


def create_invite_link(*, actor: User, task_id: int, expires_hours: int = 0) -> dict[str, Any]:
    """A new invite link to a group chat, made by any member; 0 hours = never expires."""
    if not 0 <= expires_hours <= MAX_INVITE_HOURS:
        raise InvalidInput(
            [
                {
                    "loc": ["query", "expires_hours"],
                    "msg": f"Ensure this value is between 0 and {MAX_INVITE_HOURS}.",
                    "type": "value_error",
                }
            ]
        )
    task = require_access(actor, selectors.task_row(task_id))
    if not task.is_group_chat:
        raise BadRequest(NOT_GROUP_CHAT)
    expires_at = timezone.now() + dt.timedelta(hours=expires_hours) if expires_hours else None
    link = ShareLink.objects.create(
        resource_type=ResourceMember.TASK,
        resource_id=task.pk,
        purpose=INVITE,
        token=secrets.token_urlsafe(32),
        require_approval=False,
        default_permission_level=ResourceMember.EDIT,
        expires_at=expires_at,
        created_by=actor,
    )
    return {"invite_url": invite_url(link.token), "invite_token": link.token, "expires_hours": expires_hours}


def is_expired(link: ShareLink) -> bool:
    return link.expires_at is not None and link.expires_at <= timezone.now()


def _invite(token: str) -> tuple[ShareLink, TaskResource]:
    """The link and its task. Unknown, revoked and orphaned links are all "Invalid invite link"."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise BadRequest(INVALID_INVITE)
    link = (
        ShareLink.objects.filter(token=token, purpose=INVITE, resource_type=ResourceMember.TASK)
        .select_related("created_by")
        .first()
    )
    if link is None or not link.is_active:
        raise BadRequest(INVALID_INVITE)
    if is_expired(link):
        raise BadRequest("Invite link has expired")
    task = selectors.task_row(link.resource_id)
    if task is None:
        raise TaskNotFound()
    # A link dies with its creator's place in the chat (removed members cannot keep inviting).
    if not link.created_by.is_active or not selectors.can_access(link.created_by, task):
        raise BadRequest(INVALID_INVITE)
    return link, task


def team_name(task: TaskResource) -> str | None:
    team = team_of(task)
    if team is not None:
        return str(team.spec.get("displayName") or team.name)
    ref = task.spec.get("teamRef")
    name = ref.get("name") if isinstance(ref, dict) else None
    return name if isinstance(name, str) else None


def invite_info(*, actor: User, token: str) -> dict[str, Any]:
    """What the invite page shows; any signed-in user holding the token may read it."""
    link, task = _invite(token)
    return {
        "task_id": task.pk,
        "task_title": task_title(task),
        "inviter_id": link.created_by_id,
        "inviter_name": link.created_by.user_name,
        "team_name": team_name(task),
        "member_count": member_count(task),
        "expires_at": documents.iso(link.expires_at),
    }


def join_by_invite(*, actor: User, token: str) -> dict[str, Any]:
    with transaction.atomic():
        link, task = _invite(token)
        task = locked_task(task.pk)
        if task is None:
            raise TaskNotFound()
        if not task.is_group_chat:
            raise BadRequest(NOT_GROUP_CHAT)
        if task.owner_id == actor.pk:
            already = True
        else:
            _, already = _approve(task, actor, invited_by=link.created_by_id, share_link_id=link.pk)
    if already:
        return {"message": "You are already a member", "task_id": task.pk, "already_member": True}
    events.task_changed(task)
    return {"message": "Successfully joined the group chat", "task_id": task.pk, "already_member": False}
