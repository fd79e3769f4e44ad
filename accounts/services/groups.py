"""Groups (namespaces) and their members, under one role table (DESIGN.md section 6).

Every check uses the actor's *effective* role (direct or inherited from a parent group, highest
wins): Owner > Maintainer > Developer > Reporter. Rules about the member being acted on use the
role of that member's own row, since that row is what the action changes.

System admins may view any group and its members and are the only ones who may create or
switch to organization-level groups; they get no other bypass (the reference gives none).

Each write locks the group row first, so two concurrent member changes cannot both pass the
"last Owner" checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import hooks, selectors
from accounts.exceptions import GroupNotFound, NotGroupMember, UserNotFound
from accounts.models import Group, GroupMember, User
from accounts.roles import GroupLevel, GroupRole, Visibility, role_rank
from wegent.errors import BadRequest, DomainError, Forbidden, InvalidInput, NotFound

MAX_NAME_LENGTH = 100
MAX_DEPTH = 5
FORBIDDEN_CHARACTERS = (" ", "\t", "\r", "\n", "\\", ":", ";", ",", "<", ">", "?", "*", "|", '"', "'")
# The URL suffixes of the member, leave and transfer routes: a sub-group whose name ends in one
# of them could not be told apart from those routes, so such segments are refused.
RESERVED_SUBGROUP_SEGMENTS = frozenset({"members", "leave", "transfer-ownership"})

MEMBER_NOT_FOUND = "Member not found"
ALREADY_MEMBER = "User is already a member of this group"
LAST_OWNER_REMOVE = "Cannot remove the last owner. Transfer ownership first."
LAST_OWNER_DEMOTE = "Cannot change role of the last owner. Add another owner first."


def group_name_error(name: str) -> str | None:
    """Why ``name`` cannot name a group, or None when it can."""
    if not name:
        return "Group name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"Group name cannot exceed {MAX_NAME_LENGTH} characters"
    for char in FORBIDDEN_CHARACTERS:
        if char in name:
            return f"Group name cannot contain {char!r}"
    segments = name.split("/")
    if len(segments) > MAX_DEPTH:
        return f"Group nesting depth cannot exceed {MAX_DEPTH} levels"
    if any(not segment for segment in segments):
        return "Group name cannot contain empty segments"
    if any(segment in (".", "..") for segment in segments):
        return "Group name cannot contain '.' or '..' segments"
    # Case-insensitive: MySQL collations would otherwise match "Default" to personal rows.
    if segments[0].lower() == selectors.PERSONAL_NAMESPACE:
        return "'default' is reserved for personal resources"
    for segment in segments[1:]:
        if segment in RESERVED_SUBGROUP_SEGMENTS:
            return f"'{segment}' cannot be used as a sub-group name"
    return None


@dataclass(frozen=True)
class AddMemberResult:
    success: bool
    message: str
    member: GroupMember | None = None


def _active_group(name: str) -> Group:
    group = selectors.get_group(name)
    if group is None:
        raise GroupNotFound()
    return group


def _locked_group(name: str) -> Group:
    group = _active_group(name)
    return Group.objects.select_for_update().get(pk=group.pk)


def _require_role(actor: User, group: Group, minimum: str, message: str) -> str:
    role = selectors.effective_group_role(actor, group.name)
    if role is None:
        raise NotGroupMember()
    if role_rank(role) < role_rank(minimum):
        raise Forbidden(message)
    return role


def _reload_member(member: GroupMember) -> GroupMember:
    return GroupMember.objects.select_related("group", "user", "invited_by").get(pk=member.pk)


def _oldest_owner(group: Group, *, excluding: int | None = None) -> User | None:
    owners = GroupMember.objects.filter(group=group, role=GroupRole.OWNER, is_active=True)
    if excluding is not None:
        owners = owners.exclude(user_id=excluding)
    row = owners.select_related("user").order_by("created_at", "id").first()
    return row.user if row else None


def _keep_owner_consistent(group: Group, departed_user_id: int) -> None:
    """``group.owner`` follows the Owner rows when its holder stops being one."""
    if group.owner_id != departed_user_id:
        return
    group.owner = _oldest_owner(group, excluding=departed_user_id)
    group.save(update_fields=["owner", "updated_at"])


def visible_group(*, actor: User, name: str) -> Group:
    """A group its members (and system admins) may read, with ``my_role``/``member_count`` set."""
    group = selectors.with_viewer_fields([_active_group(name)], actor)[0]
    if not selectors.can_see_group(actor, group.my_role):
        raise NotGroupMember()
    return group


def visible_members(*, actor: User, name: str) -> list[GroupMember]:
    group = _active_group(name)
    if not selectors.can_see_group(actor, selectors.effective_group_role(actor, name)):
        raise NotGroupMember()
    return list(selectors.group_members(group))


@transaction.atomic
def create_group(
    *,
    actor: User,
    name: str,
    display_name: str | None = None,
    visibility: str = Visibility.PRIVATE,
    description: str | None = "",
    level: str = GroupLevel.GROUP,
) -> Group:
    """Creates a group with ``actor`` as its Owner; sub-groups need Maintainer in the parent."""
    error = group_name_error(name)
    if error:
        raise InvalidInput([{"loc": ["body", "name"], "msg": error, "type": "value_error"}])
    if level == GroupLevel.ORGANIZATION and not actor.is_admin:
        raise Forbidden("Only admin users can create organization-level groups")
    exists_message = f"Group '{name}' already exists"
    # Case-insensitive, as on the reference's MySQL collation, so every backend agrees.
    if Group.objects.filter(name__iexact=name).exists():
        raise BadRequest(exists_message)
    parent_name = name.rsplit("/", 1)[0] if "/" in name else None
    if parent_name is not None:
        if selectors.get_group(parent_name) is None:
            raise BadRequest(f"Parent group '{parent_name}' does not exist")
        if not selectors.has_group_role(actor, parent_name, GroupRole.MAINTAINER):
            raise Forbidden(f"Insufficient permissions to create subgroup under '{parent_name}'")
    try:
        with transaction.atomic():
            group = Group.objects.create(
                name=name,
                display_name=display_name or "",
                owner=actor,
                visibility=visibility,
                description=description or "",
                level=level,
            )
    except IntegrityError as exc:
        raise BadRequest(exists_message) from exc
    GroupMember.objects.create(group=group, user=actor, role=GroupRole.OWNER, invited_by=actor)
    return group


@transaction.atomic
def update_group(*, actor: User, name: str, changes: dict[str, Any]) -> Group:
    """Applies ``display_name``/``visibility``/``description``/``level``; None means unchanged."""
    group = _locked_group(name)
    _require_role(
        actor, group, GroupRole.MAINTAINER, "Only Maintainers and Owners can update group information"
    )
    new_level = changes.get("level")
    if (
        new_level is not None
        and new_level != group.level
        and GroupLevel.ORGANIZATION in (new_level, group.level)
        and not actor.is_admin
    ):
        raise Forbidden("Only admin users can change group level to/from organization")
    fields = []
    for field in ("display_name", "visibility", "description", "level"):
        value = changes.get(field)
        if value is None:
            continue
        setattr(group, field, value)
        fields.append(field)
    if fields:
        group.save(update_fields=[*fields, "updated_at"])
    return group


@transaction.atomic
def delete_group(*, actor: User, name: str) -> None:
    """Hard-deletes a group without sub-groups or blocking resources (Owner only)."""
    group = _locked_group(name)
    _require_role(actor, group, GroupRole.OWNER, "Only group Owner can delete the group")
    if selectors.has_subgroups(group.name):
        raise BadRequest("Cannot delete group with subgroups. Delete subgroups first.")
    for blocker in hooks.group_delete_blockers:
        reason = blocker(group)
        if reason:
            raise BadRequest(reason)
    # Inactive leftovers below it would otherwise keep their names taken forever.
    Group.objects.filter(name__startswith=f"{group.name}/", is_active=False).delete()
    group.delete()


def _resolve_target(user_id: int | None, username: str | None) -> User:
    if username is not None:
        target = User.objects.filter(user_name=username, is_active=True).first()
        if target is None:
            raise NotFound(f"User '{username}' not found")
        return target
    target = User.objects.filter(pk=user_id, is_active=True).first()
    if target is None:
        raise UserNotFound()
    return target


@transaction.atomic
def add_member(
    *,
    actor: User,
    name: str,
    role: str = GroupRole.REPORTER,
    user_id: int | None = None,
    username: str | None = None,
) -> GroupMember:
    """Adds the user given by ``user_id`` or ``username`` (Maintainer or Owner only)."""
    group = _locked_group(name)
    actor_role = _require_role(
        actor, group, GroupRole.MAINTAINER, "Only Maintainers and Owners can add members"
    )
    if role == GroupRole.OWNER and actor_role != GroupRole.OWNER:
        raise Forbidden("Only Owners can add members with the Owner role")
    target = _resolve_target(user_id, username)
    existing = GroupMember.objects.filter(group=group, user=target).first()
    if existing is not None and existing.is_active:
        raise BadRequest(ALREADY_MEMBER)
    if existing is not None:
        existing.role, existing.invited_by, existing.is_active = role, actor, True
        existing.save(update_fields=["role", "invited_by", "is_active", "updated_at"])
        member = existing
    else:
        member = GroupMember.objects.create(group=group, user=target, role=role, invited_by=actor)
    if group.owner_id is None and role == GroupRole.OWNER:
        group.owner = target
        group.save(update_fields=["owner", "updated_at"])
    return _reload_member(member)


def add_member_by_username(*, actor: User, name: str, username: str, role: str) -> AddMemberResult:
    """Like ``add_member``, but failures come back in the result instead of being raised."""
    try:
        member = add_member(actor=actor, name=name, role=role, username=username)
    except DomainError as exc:
        return AddMemberResult(success=False, message=str(exc.detail))
    return AddMemberResult(success=True, message="Member added successfully", member=member)


@transaction.atomic
def change_member_role(*, actor: User, name: str, user_id: int, role: str) -> GroupMember:
    group = _locked_group(name)
    actor_role = _require_role(
        actor, group, GroupRole.MAINTAINER, "Only Maintainers and Owners can update member roles"
    )
    member = selectors.get_member(group, user_id)
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND)
    if actor_role != GroupRole.OWNER:
        if member.role == GroupRole.OWNER:
            raise Forbidden("Maintainers cannot modify Owner roles")
        if role == GroupRole.OWNER:
            raise Forbidden("Only Owners can promote members to Owner role")
    demoting_owner = member.role == GroupRole.OWNER and role != GroupRole.OWNER
    if demoting_owner and selectors.owner_count(group) <= 1:
        raise BadRequest(LAST_OWNER_DEMOTE)
    member.role = role
    member.save(update_fields=["role", "updated_at"])
    if demoting_owner:
        _keep_owner_consistent(group, user_id)
    elif role == GroupRole.OWNER and group.owner_id is None:
        group.owner_id = user_id
        group.save(update_fields=["owner", "updated_at"])
    return _reload_member(member)


@transaction.atomic
def remove_member(*, actor: User, name: str, user_id: int) -> None:
    """Removes a member; others need a strictly higher role than the member's own row."""
    group = _locked_group(name)
    actor_role = selectors.effective_group_role(actor, group.name)
    if actor_role is None:
        raise NotGroupMember()
    member = selectors.get_member(group, user_id)
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND)
    if user_id != actor.pk and role_rank(actor_role) <= role_rank(member.role):
        raise Forbidden("Insufficient permissions to remove this member")
    _remove(group, member)


def _remove(group: Group, member: GroupMember) -> None:
    if member.role == GroupRole.OWNER and selectors.owner_count(group) <= 1:
        raise BadRequest(LAST_OWNER_REMOVE)
    removed_user = member.user
    member.delete()
    _keep_owner_consistent(group, removed_user.pk)
    hooks.on_member_removed.call_all(group, removed_user, group.owner)


@transaction.atomic
def leave_group(*, actor: User, name: str) -> None:
    group = _locked_group(name)
    member = selectors.get_member(group, actor.pk)
    if member is None:
        if selectors.effective_group_role(actor, group.name) is None:
            raise NotGroupMember()
        raise BadRequest("Your role is inherited from a parent group; leave that group instead")
    _remove(group, member)


@transaction.atomic
def invite_all(*, actor: User, name: str) -> list[GroupMember]:
    """Makes every active user who is not a member yet a Reporter; returns the new members."""
    group = _locked_group(name)
    _require_role(actor, group, GroupRole.MAINTAINER, "Only Maintainers and Owners can invite users")
    rows = dict(GroupMember.objects.filter(group=group).values_list("user_id", "is_active"))
    candidates = list(
        User.objects.filter(is_active=True)
        .exclude(pk__in=[uid for uid, active in rows.items() if active])
        .values_list("pk", flat=True)
    )
    if not candidates:
        return []
    returning = [uid for uid in candidates if uid in rows]
    if returning:
        GroupMember.objects.filter(group=group, user_id__in=returning).update(
            role=GroupRole.REPORTER, is_active=True, invited_by=actor, updated_at=timezone.now()
        )
    GroupMember.objects.bulk_create(
        [
            GroupMember(group=group, user_id=uid, role=GroupRole.REPORTER, invited_by=actor)
            for uid in candidates
            if uid not in rows
        ],
        batch_size=500,
    )
    return list(selectors.group_members(group).filter(user_id__in=candidates))


@transaction.atomic
def transfer_ownership(*, actor: User, name: str, new_owner_user_id: int) -> Group:
    """Makes another Maintainer-or-higher the Owner; the actor's own Owner row becomes Maintainer."""
    group = _locked_group(name)
    _require_role(actor, group, GroupRole.OWNER, "Only the current owner can transfer ownership")
    if new_owner_user_id == actor.pk:
        raise BadRequest("New owner must be a different user")
    new_owner = User.objects.filter(pk=new_owner_user_id, is_active=True).first()
    if new_owner is None or not selectors.has_group_role(new_owner, group.name, GroupRole.MAINTAINER):
        raise BadRequest("New owner must be at least a Maintainer")
    row, created = GroupMember.objects.get_or_create(
        group=group,
        user=new_owner,
        defaults={"role": GroupRole.OWNER, "invited_by": actor},
    )
    if not created:
        row.role, row.is_active = GroupRole.OWNER, True
        row.save(update_fields=["role", "is_active", "updated_at"])
    GroupMember.objects.filter(group=group, user=actor, role=GroupRole.OWNER).update(
        role=GroupRole.MAINTAINER, updated_at=timezone.now()
    )
    group.owner = new_owner
    group.save(update_fields=["owner", "updated_at"])
    return group
