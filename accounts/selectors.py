"""Reads about groups (namespaces) and group roles, shared by every app.

The role a user holds in a group is the highest of their direct roles in the group and in each
of its ancestors (a member of ``a`` has the same role in ``a/b``). Only active memberships in
active groups count, and a group that does not exist (or is inactive) gives no role at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from accounts.models import Group, GroupMember, User
from accounts.roles import GroupLevel, GroupRole, role_rank

PERSONAL_NAMESPACE = "default"


def ancestor_names(name: str) -> list[str]:
    """``"a/b/c"`` -> ``["a", "a/b", "a/b/c"]`` (the group itself is last)."""
    parts = name.split("/")
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


def _is_real_user(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.pk is not None


def _highest(roles: Iterable[str | None]) -> str | None:
    best: str | None = None
    for role in roles:
        if role_rank(role) > role_rank(best):
            best = role
    return best


def get_group(name: str) -> Group | None:
    """The active group called exactly ``name`` (exact even on case-insensitive collations)."""
    if not name or name == PERSONAL_NAMESPACE:
        return None
    for group in Group.objects.filter(name=name, is_active=True):
        if group.name == name:
            return group
    return None


def _roles_along_chains(user: User, names: Iterable[str]) -> dict[str, str | None]:
    """One query: every active ancestor group of ``names`` with the user's direct role in it."""
    wanted = {ancestor for name in names for ancestor in ancestor_names(name)}
    if not wanted:
        return {}
    direct_role = GroupMember.objects.filter(group=OuterRef("pk"), user=user, is_active=True).values("role")
    rows = (
        Group.objects.filter(name__in=wanted, is_active=True)
        .annotate(direct_role=Subquery(direct_role[:1]))
        .values_list("name", "direct_role")
    )
    # MySQL compares names case-insensitively; keep only exact matches.
    return {name: role for name, role in rows if name in wanted}


def effective_group_roles(user: User | None, names: Iterable[str]) -> dict[str, str | None]:
    """Effective role per group name, in one query for any number of groups."""
    names = [name for name in dict.fromkeys(names) if name and name != PERSONAL_NAMESPACE]
    if not _is_real_user(user) or not names:
        return dict.fromkeys(names)
    chain_roles = _roles_along_chains(user, names)
    result: dict[str, str | None] = {}
    for name in names:
        if name not in chain_roles:
            result[name] = None
            continue
        result[name] = _highest(chain_roles.get(ancestor) for ancestor in ancestor_names(name))
    return result


def effective_group_role(user: User | None, namespace: str) -> str | None:
    """The user's role in ``namespace`` including roles inherited from parent groups."""
    return effective_group_roles(user, [namespace]).get(namespace)


def direct_group_role(user: User | None, namespace: str) -> str | None:
    """The user's role from their own membership row in ``namespace`` (no inheritance)."""
    if not _is_real_user(user) or not namespace or namespace == PERSONAL_NAMESPACE:
        return None
    rows = GroupMember.objects.filter(
        user=user, is_active=True, group__name=namespace, group__is_active=True
    ).values_list("group__name", "role")
    return next((role for name, role in rows if name == namespace), None)


def has_group_role(user: User | None, namespace: str, minimum: str) -> bool:
    """Whether the user's effective role in ``namespace`` is at least ``minimum``."""
    role = effective_group_role(user, namespace)
    return role is not None and role_rank(role) >= role_rank(minimum)


def user_group_names(user: User | None) -> list[str]:
    """Names of the active groups the user belongs to directly."""
    if not _is_real_user(user):
        return []
    return list(
        GroupMember.objects.filter(user=user, is_active=True, group__is_active=True)
        .order_by("group__name")
        .values_list("group__name", flat=True)
    )


def can_see_group(viewer: User, effective_role: str | None) -> bool:
    """Who may read a group and its member list: its members (any effective role, so members of
    a parent group too) and system admins. ``effective_role`` is the viewer's, looked up once."""
    return effective_role is not None or viewer.is_admin


def readable_group_names(user: User | None) -> list[str]:
    """Direct groups plus every active sub-group of them (where the role is inherited)."""
    direct = user_group_names(user)
    if not direct:
        return []
    under_direct = Q()
    for name in direct:
        under_direct |= Q(name__startswith=f"{name}/")
    nested = Group.objects.filter(under_direct, is_active=True).values_list("name", flat=True)
    exact = {name for name in nested if any(name.startswith(f"{parent}/") for parent in direct)}
    return sorted(set(direct) | exact)


def user_groups(user: User) -> QuerySet[Group]:
    """The groups listed for ``user``: direct memberships, newest first, with ``member_count``.

    Organization-level groups are listed only for system admins.
    """
    mine = GroupMember.objects.filter(user=user, is_active=True).values("group_id")
    groups = Group.objects.filter(pk__in=mine, is_active=True)
    if not user.is_admin:
        groups = groups.exclude(level=GroupLevel.ORGANIZATION)
    return groups.annotate(
        member_count=Count("members", filter=Q(members__is_active=True), distinct=True)
    ).order_by("-created_at", "-id")


def active_member_count(group: Group) -> int:
    return GroupMember.objects.filter(group=group, is_active=True).count()


def with_viewer_fields(groups: list[Group], viewer: User) -> list[Group]:
    """Sets ``my_role`` (effective) and ``member_count`` on each group, in at most two queries."""
    roles = effective_group_roles(viewer, [group.name for group in groups])
    missing = [group.pk for group in groups if not hasattr(group, "member_count")]
    counts: dict[int, int] = {}
    if missing:
        counts = dict(
            GroupMember.objects.filter(group_id__in=missing, is_active=True)
            .values("group_id")
            .annotate(total=Count("id"))
            .values_list("group_id", "total")
        )
    for group in groups:
        group.my_role = roles.get(group.name)
        if not hasattr(group, "member_count"):
            group.member_count = counts.get(group.pk, 0)
    return groups


def group_members(group: Group) -> QuerySet[GroupMember]:
    """Active members with their user and inviter loaded (no per-row queries when listed)."""
    return (
        GroupMember.objects.filter(group=group, is_active=True)
        .select_related("group", "user", "invited_by")
        .order_by("id")
    )


def get_member(group: Group, user_id: int) -> GroupMember | None:
    """The active membership row of ``user_id`` in ``group``."""
    return group_members(group).filter(user_id=user_id).first()


def owner_count(group: Group) -> int:
    return GroupMember.objects.filter(group=group, role=GroupRole.OWNER, is_active=True).count()


def has_subgroups(name: str) -> bool:
    return Group.objects.filter(name__startswith=f"{name}/", is_active=True).exists()


def member_group_ids(user_id: int, among: Iterable[int]) -> set[int]:
    """Which of the groups ``among`` the user is an active member of (active groups only)."""
    wanted = set(among)
    if not wanted:
        return set()
    rows = GroupMember.objects.filter(
        user_id=user_id, is_active=True, group_id__in=wanted, group__is_active=True
    ).values_list("group_id", flat=True)
    return set(rows)


def active_member_ids(group_id: int) -> list[int]:
    """The user ids of a group's active members."""
    return list(
        GroupMember.objects.filter(group_id=group_id, is_active=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
