"""Reads of subscriptions and executions. ``for_user`` is the one visibility gate: a user sees
their own subscriptions and public ones; only owners change or list-manage them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from subscriptions import statuses
from subscriptions.exceptions import ExecutionNotFound, SubscriptionNotFound
from subscriptions.models import PUBLIC, BackgroundExecution, Subscription

MAX_ID = 2**63 - 1


def for_user(actor: User) -> QuerySet[Subscription]:
    """Active subscriptions ``actor`` may read: their own, and public ones."""
    return Subscription.objects.filter(Q(owner=actor) | Q(visibility=PUBLIC), is_active=True)


def owned(actor: User) -> QuerySet[Subscription]:
    return for_user(actor).filter(owner=actor)


def owned_subscription(actor: User, subscription_id: int) -> Subscription:
    row = owned(actor).select_related("periodic_task").filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    return row


def owned_for_update(actor: User, subscription_id: int) -> Subscription:
    row = owned(actor).select_for_update().filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    return row


def own_list(actor: User, *, enabled: bool | None, trigger_type: str | None) -> QuerySet[Subscription]:
    rows = owned(actor).select_related("periodic_task", "periodic_task__crontab", "periodic_task__interval")
    rows = rows.select_related("periodic_task__clocked", "owner")
    if enabled is not None:
        rows = rows.filter(enabled=enabled)
    if trigger_type:
        rows = rows.filter(trigger_type=trigger_type)
    return rows.order_by("-updated_at", "-id")


# --- executions ------------------------------------------------------------------------------------


def visible_executions(actor: User) -> QuerySet[BackgroundExecution]:
    """Executions ``actor`` may read: their own, and those of public subscriptions."""
    return BackgroundExecution.objects.filter(Q(user=actor) | Q(subscription__visibility=PUBLIC))


def timeline(
    actor: User,
    *,
    subscription_id: int | None = None,
    status: list[str] | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    include_silent: bool = False,
) -> QuerySet[BackgroundExecution]:
    """The caller's feed: their own executions (followed subscriptions join it with follows)."""
    rows = BackgroundExecution.objects.filter(user=actor).select_related("subscription")
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
