"""Registries that higher apps fill in their ``AppConfig.ready()``.

``accounts`` is the lowest app and never imports ``kinds`` or ``tasks``. When a rule here needs
to know about their rows (default resources for a new user, whether a group still holds
resources, counts for the admin stats), the owning app registers a callable here instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Group, User

# Called after a user is created (any path: admin, OIDC, service key); applies default resources.
on_user_created: list[Callable[[User], None]] = []
# Each returns a reason string when the group still holds resources that block its deletion.
group_delete_blockers: list[Callable[[Group], str | None]] = []
# Called when a member leaves or is removed: hands their rows in the group to ``new_owner``.
on_member_removed: list[Callable[[Group, User, User | None], None]] = []
# Named counters for ``/api/admin/stats`` (e.g. "total_tasks", "total_public_models").
admin_stats: dict[str, Callable[[], int]] = {}
# Team summaries for quick access: ids -> {id: {name, agent_type, recommended_mode, ...}}.
team_summaries: list[Callable[[list[int], User], dict[int, dict[str, Any]]]] = []


def run_user_created(user: User) -> None:
    for hook in on_user_created:
        hook(user)


# Steps run by ``manage.py bootstrap`` after the admin exists (e.g. init data); each returns a
# line to print or None. Every step must be idempotent.
bootstrap_steps: list[Callable[[], str | None]] = []
