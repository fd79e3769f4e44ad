"""Following subscriptions: direct follows of public ones, invitations to any (owner only),
notification settings (reference extras §2.2 ``subscription_follows``, §2.3).

Notifications in this version: the timeline only (IM channels come later), so the channel
lists are kept but no channel exists to pick.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import Group, User
from subscriptions import selectors
from subscriptions.exceptions import SubscriptionNotFound
from subscriptions.models import (
    DIRECT,
    INVITE_ACCEPTED,
    INVITE_PENDING,
    INVITE_REJECTED,
    INVITED,
    NOTIFICATION_LEVELS,
    PUBLIC,
    SubscriptionFollow,
    SubscriptionShareNamespace,
)
from wegent.errors import BadRequest, NotFound

DEFAULT_SETTINGS = {"notification_level": "default", "notification_channel_ids": []}


def _settings(
    level: str | None, channel_ids: list[int] | None, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    merged = {**DEFAULT_SETTINGS, **(base or {})}
    if level is not None:
        if level not in NOTIFICATION_LEVELS:
            raise BadRequest(f"notification_level must be one of {', '.join(NOTIFICATION_LEVELS)}")
        merged["notification_level"] = level
    if channel_ids is not None:
        if channel_ids:
            raise BadRequest("No notification channel is available")  # IM channels: later
        merged["notification_channel_ids"] = []
    return merged


def follow(*, actor: User, subscription_id: int, level: str | None, channel_ids: list[int] | None) -> None:
    row = selectors.for_user(actor).filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    if row.owner_id == actor.pk:
        raise BadRequest("Cannot follow your own subscription")
    if row.visibility != PUBLIC:
        raise BadRequest("Only public subscriptions can be followed")
    config = _settings(level, channel_ids)
    try:
        with transaction.atomic():
            SubscriptionFollow.objects.create(
                subscription=row, follower=actor, follow_type=DIRECT, config=config
            )
    except IntegrityError as exc:
        raise BadRequest("Already following this subscription") from exc


def unfollow(*, actor: User, subscription_id: int) -> None:
    deleted, _ = SubscriptionFollow.objects.filter(subscription_id=subscription_id, follower=actor).delete()
    if not deleted:
        raise NotFound("Not following this subscription")


def _own_follow(actor: User, subscription_id: int) -> SubscriptionFollow:
    row = (
        SubscriptionFollow.objects.filter(
            subscription_id=subscription_id, follower=actor, invitation_status=INVITE_ACCEPTED
        )
        .select_related("subscription")
        .first()
    )
    if row is None or not row.subscription.is_active:
        raise NotFound("Not following this subscription")
    return row


def follow_settings(*, actor: User, subscription_id: int) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **_own_follow(actor, subscription_id).config}


def update_follow_settings(
    *, actor: User, subscription_id: int, level: str | None, channel_ids: list[int] | None
) -> dict[str, Any]:
    row = _own_follow(actor, subscription_id)
    row.config = _settings(level, channel_ids, row.config)
    row.save(update_fields=["config", "updated_at"])
    return row.config


def developer_settings(*, actor: User, subscription_id: int) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **selectors.owned_subscription(actor, subscription_id).developer_settings}


def update_developer_settings(
    *, actor: User, subscription_id: int, level: str | None, channel_ids: list[int] | None
) -> dict[str, Any]:
    with transaction.atomic():
        row = selectors.owned_for_update(actor, subscription_id)
        row.developer_settings = _settings(level, channel_ids, row.developer_settings)
        row.save(update_fields=["developer_settings", "updated_at"])
    return row.developer_settings


# --- invitations ---------------------------------------------------------------------------------


def invite(
    *, actor: User, subscription_id: int, user_id: int | None, email: str | None
) -> SubscriptionFollow:
    row = selectors.owned_subscription(actor, subscription_id)
    invitee = _invitee(user_id, email)
    if invitee.pk == actor.pk:
        raise BadRequest("Cannot invite yourself")
    now = timezone.now()
    with transaction.atomic():
        existing = (
            SubscriptionFollow.objects.select_for_update().filter(subscription=row, follower=invitee).first()
        )
        if existing is not None and existing.invitation_status != INVITE_REJECTED:
            raise BadRequest("User already follows or is invited to this subscription")
        if existing is not None:
            existing.delete()
        return SubscriptionFollow.objects.create(
            subscription=row,
            follower=invitee,
            follow_type=INVITED,
            invited_by_user_id=actor.pk,
            invitation_status=INVITE_PENDING,
            invited_at=now,
            config=dict(DEFAULT_SETTINGS),
        )


def _invitee(user_id: int | None, email: str | None) -> User:
    if user_id is None and not email:
        raise BadRequest("user_id or email is required")
    users = User.objects.filter(is_active=True)
    invitee = users.filter(pk=user_id).first() if user_id is not None else users.filter(email=email).first()
    if invitee is None:
        raise NotFound("User not found")
    return invitee


def revoke(*, actor: User, subscription_id: int, user_id: int) -> None:
    row = selectors.owned_subscription(actor, subscription_id)
    deleted, _ = SubscriptionFollow.objects.filter(
        subscription=row, follower_id=user_id, follow_type=INVITED
    ).delete()
    if not deleted:
        raise NotFound("Invitation not found")


def respond(*, actor: User, invitation_id: int, accept: bool) -> SubscriptionFollow:
    with transaction.atomic():
        row = (
            SubscriptionFollow.objects.select_for_update()
            .filter(pk=invitation_id, follower=actor, follow_type=INVITED, subscription__is_active=True)
            .first()
        )
        if row is None:
            raise NotFound("Invitation not found")
        if row.invitation_status != INVITE_PENDING:
            raise BadRequest(f"Invitation already {row.invitation_status}")
        row.invitation_status = INVITE_ACCEPTED if accept else INVITE_REJECTED
        row.responded_at = timezone.now()
        row.save(update_fields=["invitation_status", "responded_at", "updated_at"])
    return row


# --- sharing with a group ------------------------------------------------------------------------------


def _group_members(actor: User, namespace_id: int) -> tuple[Any, list[int]]:
    group = Group.objects.filter(pk=namespace_id).first()
    if group is None or account_selectors.effective_group_role(actor, group.name) is None:
        raise NotFound("Namespace not found")  # a group the owner is not in is not theirs to share with
    members = account_selectors.group_members(group).filter(user__is_active=True)
    return group, list(members.values_list("user_id", flat=True))


def invite_namespace(*, actor: User, subscription_id: int, namespace_id: int) -> int:
    """Shares the subscription with a group the owner belongs to: every other active member
    gets a pending invitation. Returns how many were invited."""
    row = selectors.owned_subscription(actor, subscription_id)
    _, member_ids = _group_members(actor, namespace_id)
    now = timezone.now()
    try:
        with transaction.atomic():
            SubscriptionShareNamespace.objects.create(
                subscription=row, namespace_id=namespace_id, shared_by_user_id=actor.pk
            )
            taken = set(
                SubscriptionFollow.objects.filter(subscription=row)
                .exclude(invitation_status=INVITE_REJECTED)
                .values_list("follower_id", flat=True)
            )
            wanted = [uid for uid in member_ids if uid != actor.pk and uid not in taken]
            SubscriptionFollow.objects.filter(subscription=row, follower_id__in=wanted).delete()  # rejected
            SubscriptionFollow.objects.bulk_create(
                SubscriptionFollow(
                    subscription=row,
                    follower_id=uid,
                    follow_type=INVITED,
                    invited_by_user_id=actor.pk,
                    invitation_status=INVITE_PENDING,
                    invited_at=now,
                    config=dict(DEFAULT_SETTINGS),
                )
                for uid in wanted
            )
    except IntegrityError as exc:
        raise BadRequest("Subscription is already shared with this namespace") from exc
    return len(wanted)


def revoke_namespace(*, actor: User, subscription_id: int, namespace_id: int) -> None:
    """Unshares: the group's pending invitations go; accepted follows stay (they were answered)."""
    row = selectors.owned_subscription(actor, subscription_id)
    with transaction.atomic():
        deleted, _ = SubscriptionShareNamespace.objects.filter(
            subscription=row, namespace_id=namespace_id
        ).delete()
        if not deleted:
            raise NotFound("Namespace invitation not found")
        group = Group.objects.filter(pk=namespace_id).first()
        if group is not None:
            members = account_selectors.group_members(group).values("user_id")
            SubscriptionFollow.objects.filter(
                subscription=row,
                follow_type=INVITED,
                invitation_status=INVITE_PENDING,
                follower_id__in=members,
            ).delete()
