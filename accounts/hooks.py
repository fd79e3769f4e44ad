"""Hooks that higher apps fill in their ``AppConfig.ready()`` (the full list: wegent/hooks.py).

``accounts`` is the lowest app and never imports ``kinds`` or ``tasks``. When a rule here needs
to know about their rows (default resources for a new user, whether a group still holds
resources, counts for the admin stats), the owning app registers a callable here instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wegent.hooks import Hook

if TYPE_CHECKING:
    from accounts.models import Group, User

on_user_created: Hook[Callable[[User], None]] = Hook(
    "accounts.user_created",
    "called after a user is created (any path: admin, OIDC, service key); applies default resources",
)
group_delete_blockers: Hook[Callable[[Group], str | None]] = Hook(
    "accounts.group_delete_blockers",
    "each returns a reason when the group still holds resources that block its deletion",
)
on_member_removed: Hook[Callable[[Group, User, User | None], None]] = Hook(
    "accounts.member_removed",
    "called when a member leaves or is removed: hands their rows in the group to the new owner",
)
admin_stats: Hook[Callable[[], dict[str, int]]] = Hook(
    "accounts.admin_stats",
    "each returns named counters for /api/admin/stats (e.g. total_tasks, total_public_models)",
)
team_summaries: Hook[Callable[[list[int], User], dict[int, dict[str, Any]]]] = Hook(
    "accounts.team_summaries",
    "team ids -> {id: {name, agent_type, recommended_mode, ...}} for quick access; first wins",
)
bootstrap_steps: Hook[Callable[[], str | None]] = Hook(
    "accounts.bootstrap_steps",
    "idempotent steps of manage.py bootstrap after the admin exists; each returns a line or None",
)


def run_user_created(user: User) -> None:
    on_user_created.call_all(user)
