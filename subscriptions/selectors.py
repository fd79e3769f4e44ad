"""Reads of subscriptions and executions. ``for_user`` is the one visibility gate: a user sees
their own subscriptions, public ones and those they follow by an accepted invitation; only
owners change or list-manage them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from subscriptions import statuses
from subscriptions.exceptions import ExecutionNotFound, SubscriptionNotFound
from subscriptions.models import (
    INVITE_ACCEPTED,
    INVITE_PENDING,
    INVITED,
    PUBLIC,
    BackgroundExecution,
    Subscription,
    SubscriptionFollow,
)
from tasks.models import WORKSPACE, TaskResource

MAX_ID = 2**63 - 1


def _followed_ids(actor: User) -> QuerySet[SubscriptionFollow]:
    return SubscriptionFollow.objects.filter(follower=actor, invitation_status=INVITE_ACCEPTED).values(
        "subscription_id"
    )


def for_user(actor: User) -> QuerySet[Subscription]:
    """Active subscriptions ``actor`` may read: their own, public ones, and followed ones."""
    readable = Q(owner=actor) | Q(visibility=PUBLIC) | Q(pk__in=_followed_ids(actor))
    return Subscription.objects.filter(readable, is_active=True)


def with_followers(rows: QuerySet[Subscription]) -> QuerySet[Subscription]:
    accepted = Q(follows__invitation_status=INVITE_ACCEPTED)
    return rows.annotate(followers=Count("follows", filter=accepted, distinct=True))


def discover(actor: User, *, sort_by: str, search: str | None) -> QuerySet[Subscription]:
    rows = with_followers(Subscription.objects.filter(visibility=PUBLIC, is_active=True)).select_related(
        "owner"
    )
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(document__spec__displayName__icontains=search))
    order = ["-followers", "-id"] if sort_by == "popularity" else ["-created_at", "-id"]
    return rows.order_by(*order)


def following_ids(actor: User, subscription_ids: list[int]) -> set[int]:
    return set(
        SubscriptionFollow.objects.filter(
            follower=actor, subscription_id__in=subscription_ids, invitation_status=INVITE_ACCEPTED
        ).values_list("subscription_id", flat=True)
    )


def followers(actor: User, subscription_id: int) -> QuerySet[SubscriptionFollow]:
    """The accepted followers of the caller's own subscription (404 for anyone else's)."""
    owned_subscription(actor, subscription_id)
    rows = SubscriptionFollow.objects.filter(
        subscription_id=subscription_id, invitation_status=INVITE_ACCEPTED
    )
    return rows.select_related("follower").order_by("-created_at", "-id")


def followers_count(actor: User, subscription_id: int) -> int:
    row = for_user(actor).filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    return SubscriptionFollow.objects.filter(subscription=row, invitation_status=INVITE_ACCEPTED).count()


def invitations_sent(actor: User, subscription_id: int) -> QuerySet[SubscriptionFollow]:
    owned_subscription(actor, subscription_id)
    rows = SubscriptionFollow.objects.filter(subscription_id=subscription_id, follow_type=INVITED)
    return rows.select_related("follower").order_by("-created_at", "-id")


def following(actor: User) -> QuerySet[SubscriptionFollow]:
    rows = SubscriptionFollow.objects.filter(
        follower=actor, invitation_status=INVITE_ACCEPTED, subscription__is_active=True
    )
    return rows.select_related("subscription", "subscription__owner").order_by("-created_at", "-id")


def pending_invitations(actor: User) -> QuerySet[SubscriptionFollow]:
    rows = SubscriptionFollow.objects.filter(
        follower=actor, invitation_status=INVITE_PENDING, subscription__is_active=True
    )
    return rows.select_related("subscription", "subscription__owner").order_by("-created_at", "-id")


def owned(actor: User) -> QuerySet[Subscription]:
    return for_user(actor).filter(owner=actor)


def owned_subscription(actor: User, subscription_id: int) -> Subscription:
    row = (
        with_followers(owned(actor))
        .select_related("periodic_task", "owner")
        .filter(pk=subscription_id)
        .first()
    )
    if row is None:
        raise SubscriptionNotFound()
    return row


def owned_for_update(actor: User, subscription_id: int) -> Subscription:
    row = owned(actor).select_for_update().filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    return row


def own_list(actor: User, *, enabled: bool | None, trigger_type: str | None) -> QuerySet[Subscription]:
    rows = with_followers(owned(actor))
    rows = rows.select_related("periodic_task", "periodic_task__crontab", "periodic_task__interval")
    rows = rows.select_related("periodic_task__clocked", "owner")
    if enabled is not None:
        rows = rows.filter(enabled=enabled)
    if trigger_type:
        rows = rows.filter(trigger_type=trigger_type)
    return rows.order_by("-updated_at", "-id")


# --- executions ------------------------------------------------------------------------------------


def visible_executions(actor: User) -> QuerySet[BackgroundExecution]:
    """Executions ``actor`` may read: their own, public subscriptions', followed ones'."""
    return BackgroundExecution.objects.filter(
        Q(user=actor) | Q(subscription__visibility=PUBLIC) | Q(subscription_id__in=_followed_ids(actor))
    )


def timeline(
    actor: User,
    *,
    subscription_id: int | None = None,
    status: list[str] | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    include_silent: bool = False,
) -> QuerySet[BackgroundExecution]:
    """The caller's feed: their own executions and those of subscriptions they follow."""
    mine_or_followed = Q(user=actor) | Q(subscription_id__in=_followed_ids(actor))
    rows = BackgroundExecution.objects.filter(mine_or_followed).select_related("subscription")
    if subscription_id is not None:
        rows = rows.filter(subscription_id=subscription_id)
    if status:
        rows = rows.filter(status__in=status)
    elif not include_silent:
        rows = rows.exclude(status=statuses.COMPLETED_SILENT)
    if start_date is not None:
        rows = rows.filter(created_at__gte=start_date)
    if end_date is not None:
        rows = rows.filter(created_at__lte=end_date)
    return rows.order_by("-created_at", "-id")


def stale(actor: User, *, status: str, older_than: datetime) -> QuerySet[BackgroundExecution]:
    rows = BackgroundExecution.objects.filter(user=actor, status=status, updated_at__lt=older_than)
    return rows.select_related("subscription").order_by("updated_at", "id")


def readable_execution(actor: User, execution_id: int) -> BackgroundExecution:
    row = visible_executions(actor).select_related("subscription").filter(pk=execution_id).first()
    if row is None:
        raise ExecutionNotFound()
    return row


def own_execution(actor: User, execution_id: int) -> BackgroundExecution:
    row = (
        BackgroundExecution.objects.filter(user=actor, pk=execution_id).select_related("subscription").first()
    )
    if row is None:
        raise ExecutionNotFound()
    return row


def owned_workspace_repository(actor: User, workspace_id: int) -> dict | None:
    """The repository block of the caller's active Workspace with this id (None otherwise)."""
    if not 0 < workspace_id <= MAX_ID:
        return None
    row = TaskResource.objects.filter(pk=workspace_id, owner=actor, kind=WORKSPACE, is_active=True).first()
    if row is None:
        return None
    repository = row.spec.get("repository")
    return repository if isinstance(repository, dict) else {}
