"""Sharing a personal knowledge base (reference extras §4 "Share", the KnowledgeBase routes):
one share link, join requests, and members with a level.

Levels (``ResourceMember.permission_level``): ``view`` reads, ``edit`` also changes documents
and settings, ``manage`` also shares (link, members, requests); deleting the knowledge base
stays its creator's (``knowledge.selectors.can`` is the one rule). Group and organization
knowledge bases are shared through their group's members, so these routes refuse them.

A link is a ``ShareLink`` row (purpose "share") with a random token, not the reference's
AES-encrypted id string: it is looked up, not decoded, so it cannot be forged, and deactivating
the row revokes it. One active link per knowledge base; creating it again keeps the token and
takes the new settings. Joining through a link that needs no approval grants at most the link's
default level (a joiner cannot ask themselves into ``manage``); with approval the requested
level is what the reviewer sees, and the reviewer decides.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kinds.models import DEFAULT_NAMESPACE, Kind, ResourceMember, ShareLink
from knowledge import selectors, specs
from knowledge.exceptions import KnowledgeBadRequest, KnowledgeBaseNotFound, KnowledgeDenied
from wegent.errors import NotFound

SHARE = "share"
KB = ResourceMember.KNOWLEDGE_BASE
LEVELS = (ResourceMember.VIEW, ResourceMember.EDIT, ResourceMember.MANAGE)
RANK = {level: n for n, level in enumerate(LEVELS)}
MAX_TOKEN_CHARS = 128  # ShareLink.token's width: a longer string is never a token we issued
MAX_EXPIRY_HOURS = 24 * 365
INVALID_TOKEN = "Invalid share token"
LINK_GONE = "Share link not found or no longer active"
NOT_PERSONAL = (
    "Only personal knowledge bases can be shared; a group's knowledge base follows its group members"
)
NOT_MANAGER = "Only the creator or a member with manage permission can manage sharing"


@dataclass(frozen=True)
class LinkConfig:
    require_approval: bool = True
    default_permission_level: str = ResourceMember.VIEW
    expires_in_hours: int | None = None


def share_url(token: str) -> str:
    return f"{settings.FRONTEND_URL}/shared/knowledge?token={token}"


def _expired(link: ShareLink) -> bool:
    return link.expires_at is not None and link.expires_at <= timezone.now()


def _managed_kb(actor: User, kb_id: int) -> Kind:
    """The knowledge base if ``actor`` may manage its sharing (404 if they cannot read it)."""
    kb = selectors.readable_kb(actor, kb_id)
    if kb.namespace != DEFAULT_NAMESPACE:
        raise KnowledgeBadRequest(NOT_PERSONAL)
    if not selectors.can(actor, kb, selectors.SHARE):
        raise KnowledgeDenied(NOT_MANAGER)
    return kb


def _active_link(kb_id: int) -> ShareLink | None:
    return (
        ShareLink.objects.filter(resource_type=KB, resource_id=kb_id, purpose=SHARE, is_active=True)
        .order_by("-id")
        .first()
    )


def token_for_old_link(*, kb_id: int) -> str:
    """``GET /share/public/knowledge/redirect``: the share token of a knowledge base's live link,
    for share links made before tokens, which carried the id. The reference answers anyone; here
    the caller must be signed in (as for the other share routes), so ids cannot be walked
    anonymously for tokens."""
    alive = Kind.objects.filter(pk=kb_id, kind=selectors.KIND, is_active=True).exists()
    link = _active_link(kb_id) if alive else None
    if link is None or _expired(link):
        raise NotFound("Share link not found")
    return link.token


def link_out(link: ShareLink) -> dict[str, Any]:
    return {
        "id": link.pk,
        "resource_type": link.resource_type,
        "resource_id": link.resource_id,
        "share_url": share_url(link.token),
        "share_token": link.token,
        "require_approval": link.require_approval,
        "default_permission_level": link.default_permission_level,
        "expires_at": link.expires_at,
        "is_active": link.is_active,
        "created_by_user_id": link.created_by_id,
        "created_at": link.created_at,
        "updated_at": link.updated_at,
    }


# --- the link ---------------------------------------------------------------------------------------


def create_link(*, actor: User, kb_id: int, config: LinkConfig) -> dict[str, Any]:
    expires_at = (
        timezone.now() + dt.timedelta(hours=config.expires_in_hours) if config.expires_in_hours else None
    )
    with transaction.atomic():
        kb = _managed_kb(actor, kb_id)
        selectors.locked_kb(kb.pk)  # two racing creates make one link
        link = _active_link(kb.pk)
        if link is None:
            link = ShareLink(
                resource_type=KB,
                resource_id=kb.pk,
                purpose=SHARE,
                token=secrets.token_urlsafe(32),
                created_by=actor,
            )
        link.require_approval = config.require_approval
        link.default_permission_level = config.default_permission_level
        link.expires_at = expires_at
        link.save()
    return link_out(link)


def get_link(*, actor: User, kb_id: int) -> dict[str, Any]:
    kb = _managed_kb(actor, kb_id)
    link = _active_link(kb.pk)
    if link is None:
        raise NotFound("No active share link for this knowledge base")
    return link_out(link)


def delete_link(*, actor: User, kb_id: int) -> dict[str, Any]:
    kb = _managed_kb(actor, kb_id)
    revoked = ShareLink.objects.filter(resource_type=KB, resource_id=kb.pk, purpose=SHARE, is_active=True)
    if not revoked.update(is_active=False, updated_at=timezone.now()):
        raise NotFound("No active share link for this knowledge base")
    return {"message": "Share link deactivated"}


# --- reading a link ---------------------------------------------------------------------------------


def _resolve(token: Any) -> tuple[ShareLink, Kind]:
    """The link and its knowledge base: 400 for a token we never issued, 404 for a revoked link
    or a deleted knowledge base (an expired link still resolves: callers say so)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise KnowledgeBadRequest(INVALID_TOKEN)
    link = ShareLink.objects.filter(token=token, purpose=SHARE, resource_type=KB).first()
    if link is None:
        raise KnowledgeBadRequest(INVALID_TOKEN)
    kb = selectors.kind_row(link.resource_id)
    if not link.is_active or kb is None or kb.namespace != DEFAULT_NAMESPACE:
        raise NotFound(LINK_GONE)
    return link, kb


def share_info(*, actor: User, token: str) -> dict[str, Any]:
    """``GET /share/info``: what a link leads to, before joining."""
    link, kb = _resolve(token)
    return {
        "resource_type": KB,
        "resource_id": kb.pk,
        "resource_name": specs.KnowledgeBaseView.of(kb.spec).name,
        "owner_user_id": kb.owner_id or 0,
        "owner_user_name": kb.owner.user_name if kb.owner is not None else "",
        "require_approval": link.require_approval,
        "default_permission_level": link.default_permission_level,
        "is_expired": _expired(link),
    }


def public_knowledge(*, actor: User, token: str) -> dict[str, Any]:
    """``GET /share/public/knowledge``: the shared knowledge base's card (no documents)."""
    link, kb = _resolve(token)
    view = specs.KnowledgeBaseView.of(kb.spec)
    return {
        "id": kb.pk,
        "name": view.name,
        "namespace": kb.namespace,
        "description": view.description,
        "creator_id": kb.owner_id or 0,
        "creator_name": kb.owner.user_name if kb.owner is not None else "",
        "require_approval": link.require_approval,
        "default_permission_level": link.default_permission_level,
        "is_expired": _expired(link),
    }


# --- joining ----------------------------------------------------------------------------------------


def join(*, actor: User, token: str, requested_level: str | None) -> dict[str, Any]:
    link, kb = _resolve(token)
    if _expired(link):
        raise KnowledgeBadRequest("This share link has expired")
    if kb.owner_id == actor.pk:
        raise KnowledgeBadRequest("You are the creator of this knowledge base")
    wanted = requested_level or link.default_permission_level
    if link.require_approval:
        status, level = ResourceMember.PENDING, wanted
    else:
        # No reviewer: never more than the link grants.
        status = ResourceMember.APPROVED
        level = min(wanted, link.default_permission_level, key=RANK.__getitem__)
    with transaction.atomic():
        selectors.locked_kb(kb.pk)
        member = ResourceMember.objects.filter(resource_type=KB, resource_id=kb.pk, user=actor).first()
        if member is not None and member.status == ResourceMember.APPROVED:
            raise KnowledgeBadRequest("You already have access to this knowledge base")
        if member is not None and member.status == ResourceMember.PENDING:
            raise KnowledgeBadRequest("Your request to join is already waiting for approval")
        now = timezone.now()
        member = member or ResourceMember(resource_type=KB, resource_id=kb.pk, user=actor)
        member.permission_level, member.status = level, status
        member.share_link_id, member.invited_by_user_id = link.pk, link.created_by_id
        member.requested_at = now
        member.reviewed_by_user_id, member.reviewed_at = 0, None
        member.save()
    message = (
        "Request submitted; waiting for approval"
        if status == ResourceMember.PENDING
        else "Joined the knowledge base"
    )
    return {
        "message": message,
        "status": status,
        "member_id": member.pk,
        "resource_type": KB,
        "resource_id": kb.pk,
        "copied_resource_id": None,
    }


# --- members ----------------------------------------------------------------------------------------


def _users(ids: set[int]) -> dict[int, User]:
    ids.discard(0)
    return {u.pk: u for u in User.objects.filter(pk__in=ids)} if ids else {}


def members_out(rows: list[ResourceMember]) -> list[dict[str, Any]]:
    users = _users(
        {r.user_id for r in rows}
        | {r.invited_by_user_id for r in rows}
        | {r.reviewed_by_user_id for r in rows}
    )

    def name(user_id: int) -> str | None:
        user = users.get(user_id)
        return user.user_name if user is not None else None

    return [
        {
            "id": r.pk,
            "resource_type": r.resource_type,
            "resource_id": r.resource_id,
            "user_id": r.user_id,
            "user_name": name(r.user_id),
            "user_email": users[r.user_id].email if r.user_id in users else None,
            "permission_level": r.permission_level,
            "status": r.status,
            "invited_by_user_id": r.invited_by_user_id,
            "invited_by_user_name": name(r.invited_by_user_id),
            "reviewed_by_user_id": r.reviewed_by_user_id or None,
            "reviewed_by_user_name": name(r.reviewed_by_user_id),
            "reviewed_at": r.reviewed_at,
            "copied_resource_id": None,
            "requested_at": r.requested_at,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
        }
        for r in rows
    ]


def _rows(kb_id: int, status: str) -> list[ResourceMember]:
    return list(
        ResourceMember.objects.filter(resource_type=KB, resource_id=kb_id, status=status).order_by("id")
    )


def list_members(*, actor: User, kb_id: int) -> dict[str, Any]:
    """Approved members; anyone who can read a personal knowledge base sees who else can."""
    kb = selectors.readable_kb(actor, kb_id)
    if kb.namespace != DEFAULT_NAMESPACE:
        raise KnowledgeBadRequest(NOT_PERSONAL)
    items = members_out(_rows(kb.pk, ResourceMember.APPROVED))
    return {"members": items, "total": len(items)}


def _member(kb: Kind, member_id: int) -> ResourceMember:
    row = ResourceMember.objects.filter(pk=member_id, resource_type=KB, resource_id=kb.pk).first()
    if row is None:
        raise NotFound("Member not found")
    return row


def add_member(*, actor: User, kb_id: int, user_id: int, level: str) -> dict[str, Any]:
    with transaction.atomic():
        kb = _managed_kb(actor, kb_id)
        selectors.locked_kb(kb.pk)
        target = (
            User.objects.filter(pk=user_id, is_active=True).first()
            if 0 < user_id <= selectors.MAX_ID
            else None
        )
        if target is None:
            raise NotFound("User not found")
        if target.pk == kb.owner_id:
            raise KnowledgeBadRequest("The creator already owns this knowledge base")
        row = ResourceMember.objects.filter(resource_type=KB, resource_id=kb.pk, user=target).first()
        if row is not None and row.status == ResourceMember.APPROVED:
            raise KnowledgeBadRequest("User is already a member")
        now = timezone.now()
        row = row or ResourceMember(resource_type=KB, resource_id=kb.pk, user=target, requested_at=now)
        row.permission_level, row.status = level, ResourceMember.APPROVED
        row.invited_by_user_id, row.reviewed_by_user_id, row.reviewed_at = actor.pk, actor.pk, now
        row.save()
    return members_out([row])[0]


def update_member(*, actor: User, kb_id: int, member_id: int, level: str) -> dict[str, Any]:
    with transaction.atomic():
        kb = _managed_kb(actor, kb_id)
        row = _member(kb, member_id)
        if row.status != ResourceMember.APPROVED:
            raise KnowledgeBadRequest("Only approved members have a permission level to change")
        row.permission_level = level
        row.save(update_fields=["permission_level", "updated_at"])
    return members_out([row])[0]


def remove_member(*, actor: User, kb_id: int, member_id: int) -> dict[str, Any]:
    """A manager removes anyone; a member may remove themselves (leave)."""
    kb = (
        selectors.readable_kb(actor, kb_id)
        if _own_row(actor, kb_id, member_id)
        else _managed_kb(actor, kb_id)
    )
    _member(kb, member_id).delete()
    return {"message": "Member removed"}


def _own_row(actor: User, kb_id: int, member_id: int) -> bool:
    return ResourceMember.objects.filter(
        pk=member_id, resource_type=KB, resource_id=kb_id, user=actor, status=ResourceMember.APPROVED
    ).exists()


# --- join requests ----------------------------------------------------------------------------------


def pending_requests(*, actor: User, kb_id: int) -> dict[str, Any]:
    kb = _managed_kb(actor, kb_id)
    rows = _rows(kb.pk, ResourceMember.PENDING)
    users = _users({r.user_id for r in rows})
    items = [
        {
            "id": r.pk,
            "user_id": r.user_id,
            "user_name": users[r.user_id].user_name if r.user_id in users else None,
            "user_email": users[r.user_id].email if r.user_id in users else None,
            "requested_permission_level": r.permission_level,
            "requested_at": r.requested_at,
        }
        for r in rows
    ]
    return {"requests": items, "total": len(items)}


def review(*, actor: User, kb_id: int, request_id: int, approved: bool, level: str | None) -> dict[str, Any]:
    with transaction.atomic():
        kb = _managed_kb(actor, kb_id)
        row = (
            ResourceMember.objects.select_for_update()
            .filter(pk=request_id, resource_type=KB, resource_id=kb.pk)
            .first()
        )
        if row is None or row.status != ResourceMember.PENDING:
            raise NotFound("Pending request not found")
        row.status = ResourceMember.APPROVED if approved else ResourceMember.REJECTED
        if approved and level:
            row.permission_level = level
        row.reviewed_by_user_id, row.reviewed_at = actor.pk, timezone.now()
        row.save()
    return {
        "message": "Request approved" if approved else "Request rejected",
        "member_id": row.pk,
        "new_status": row.status,
        "permission_level": row.permission_level if approved else None,
    }


# --- the caller's own view --------------------------------------------------------------------------


def _level_of(actor: User, kb: Kind) -> str | None:
    if kb.owner_id == actor.pk or selectors.can(actor, kb, selectors.SHARE):
        return ResourceMember.MANAGE
    if selectors.can(actor, kb, selectors.UPDATE):
        return ResourceMember.EDIT
    if selectors.can(actor, kb, selectors.READ):
        return ResourceMember.VIEW
    return None


def my_permission(*, actor: User, kb_id: int) -> dict[str, Any]:
    """The caller's access; someone without access sees only their own pending request (and
    anyone else gets 404, so ids do not reveal knowledge bases)."""
    kb = selectors.kind_row(kb_id)
    if kb is None:
        raise KnowledgeBaseNotFound()
    level = _level_of(actor, kb)
    pending = ResourceMember.objects.filter(
        resource_type=KB, resource_id=kb.pk, user=actor, status=ResourceMember.PENDING
    ).first()
    if level is None and pending is None:
        raise KnowledgeBaseNotFound()
    return {
        "has_access": level is not None,
        "permission_level": level,
        "is_creator": kb.owner_id == actor.pk,
        "pending_request": {
            "id": pending.pk,
            "permission_level": pending.permission_level,
            "requested_at": pending.requested_at,
        }
        if pending is not None
        else None,
    }


def kb_share_info(*, actor: User, kb_id: int) -> dict[str, Any]:
    permission = my_permission(actor=actor, kb_id=kb_id)
    kb = selectors.kind_row(kb_id)
    assert kb is not None
    view = specs.KnowledgeBaseView.of(kb.spec)
    return {
        "id": kb.pk,
        "name": view.name,
        "description": view.description,
        "namespace": kb.namespace,
        "creator_id": kb.owner_id or 0,
        "creator_name": kb.owner.user_name if kb.owner is not None else "",
        "created_at": kb.created_at.isoformat(),
        "my_permission": permission,
    }
