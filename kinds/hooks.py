"""What the kinds app contributes to the accounts hooks (installed by KindsConfig.ready). The hooks
kinds offers the apps above it are in kinds/events.py."""

from __future__ import annotations

from accounts import hooks as account_hooks
from accounts.models import Group, User
from kinds import list_cache
from kinds.models import Kind


def group_still_holds_resources(group: Group) -> str | None:
    count = Kind.objects.filter(namespace=group.name, is_active=True).count()
    if count:
        return f"Group '{group.name}' still has {count} resource(s); delete or move them first"
    return None


def hand_rows_to_group_owner(group: Group, removed: User, new_owner: User | None) -> None:
    """A departing member's rows stay in the group, now owned by the group's owner."""
    if new_owner is None or new_owner.pk == removed.pk:
        return
    Kind.objects.filter(namespace=group.name, owner=removed, is_active=True).update(owner=new_owner)
    list_cache.bump()  # the update above sends no signals


def public_model_stats() -> dict[str, int]:
    from kinds.adapters.admin import total_public_models

    return {"total_public_models": total_public_models()}


def _connect_list_cache() -> None:
    """Every write that could change a cached list retires them all (kinds.list_cache)."""
    from django.db.models.signals import post_delete, post_save

    from accounts.models import Group, GroupMember, User

    for model in (Kind, Group, GroupMember, User):
        for signal in (post_save, post_delete):
            signal.connect(
                list_cache.bump_on_signal,
                sender=model,
                weak=False,
                dispatch_uid=f"kinds.list_cache.{model.__name__}.{signal is post_save}",
            )


def install() -> None:
    _connect_list_cache()
    from kinds.adapters.teams import team_summaries
    from kinds.init_data import apply_init_data

    account_hooks.admin_stats.register(public_model_stats)
    account_hooks.team_summaries.register(team_summaries)
    account_hooks.bootstrap_steps.register(apply_init_data)
    account_hooks.group_delete_blockers.register(group_still_holds_resources)
    account_hooks.on_member_removed.register(hand_rows_to_group_owner)
