"""Executions: creating one per fire (exactly once), their status machine, cancel and delete.

A status change is one ``UPDATE ... WHERE id = ? AND version = ?`` that also bumps the
version (optimistic lock): of two concurrent changes one wins, the other sees a stale version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from subscriptions import protocol, selectors, statuses, triggers
from subscriptions.exceptions import InvalidExecutionTransition, StaleExecution
from subscriptions.models import MANUAL, ONE_TIME, WEBHOOK, BackgroundExecution, Subscription
from subscriptions.services import schedules
from tasks.services import lifecycle
from wegent.errors import BadRequest, DomainError
from wegent.realtime import emitter
from wegent.realtime.rooms import user_room

logger = logging.getLogger(__name__)
MAX_REASON = 500
STALE_BATCH = 500


def _prompt(subscription: Subscription, now: datetime, webhook_data: Any = None) -> str:
    # A rental runs its source's (hidden) prompt.
    source = subscription.source if subscription.is_rental else None
    if subscription.is_rental and (source is None or not source.is_active):
        raise BadRequest("The rented subscription is no longer available")
    template = str((source or subscription).spec.get("promptTemplate") or "")
    prompt = triggers.render_prompt(
        template, now=now, display_name=subscription.display_name, webhook_data=webhook_data
    )
    if not prompt.strip():
        raise BadRequest("The subscription's prompt is empty")
    return prompt


def _new_execution(
    subscription: Subscription,
    *,
    trigger_type: str,
    reason: str,
    now: datetime,
    fire_key: str | None = None,
    webhook_data: Any = None,
    record_failure: bool = False,
) -> BackgroundExecution:
    """``record_failure``: a prompt that cannot be made (a rental whose source is gone) is kept
    as a FAILED execution, so the fire shows in the timeline; otherwise it is raised."""
    fields: dict[str, Any] = {}
    try:
        prompt = _prompt(subscription, now, webhook_data)
    except DomainError as exc:
        if not record_failure:
            raise
        prompt = ""
        fields = {"status": statuses.FAILED, "error_message": str(exc.detail), "completed_at": now}
    execution = BackgroundExecution.objects.create(
        user_id=subscription.owner_id,
        subscription=subscription,
        trigger_type=trigger_type,
        trigger_reason=reason[:MAX_REASON],
        prompt=prompt,
        fire_key=fire_key,
        **fields,
    )
    if fields:
        _count_result(execution)
    return execution


def fire_scheduled(subscription_id: int, now: datetime | None = None) -> BackgroundExecution | None:
    """The execution of a beat fire, or None when this fire already has one (a duplicate
    message, a second beat) or the subscription is no longer due to run."""
    try:
        return _fire(subscription_id, now or timezone.now())
    except IntegrityError:
        logger.info("subscription %s: a concurrent fire created this fire's execution", subscription_id)
        return None


def _fire(subscription_id: int, now: datetime) -> BackgroundExecution | None:
    # The subscription row is locked (with its beat entry read in the same statement): fires of
    # one subscription are serialised, so a duplicate sees the first one's execution.
    lock_self = {"of": ("self",)} if connection.features.has_select_for_update_of else {}
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(**lock_self)
            .select_related("periodic_task__crontab", "periodic_task__interval", "periodic_task__clocked")
            .filter(pk=subscription_id, is_active=True, enabled=True)
            .first()
        )
        if subscription is None or not subscription.is_timed or subscription.periodic_task_id is None:
            return None
        fired_at = schedules.fire_time(subscription, now)
        if fired_at is None:
            return None
        key = f"at:{fired_at.isoformat()}"
        # Under the row lock a duplicate of this fire sees the first one's row; the unique key
        # (subscription, fire_key) still holds if anything slips past (caught below).
        if BackgroundExecution.objects.filter(subscription=subscription, fire_key=key).exists():
            logger.info("subscription %s: fire %s already has its execution", subscription_id, key)
            return None
        execution = _new_execution(
            subscription,
            trigger_type=subscription.trigger_type,
            reason=f"Scheduled {subscription.trigger_type} fire at {fired_at.isoformat()}",
            now=now,
            fire_key=key,
            record_failure=True,
        )
        subscription.last_execution_time = now
        subscription.execution_count = F("execution_count") + 1
        update = ["last_execution_time", "execution_count", "updated_at"]
        if subscription.trigger_type == ONE_TIME:
            # A one-time subscription has run: it is disabled and its beat entry removed.
            subscription.enabled = False
            subscription.document = {**subscription.document, "spec": {**subscription.spec, "enabled": False}}
            update += ["enabled", "document"]
        subscription.save(update_fields=update)
        if subscription.trigger_type == ONE_TIME:
            subscription.refresh_from_db()
            schedules.sync(subscription)
    transaction.on_commit(lambda: emit_update(execution.pk, execution))
    return execution


def trigger_now(
    subscription: Subscription, *, trigger_type: str = MANUAL, reason: str = "", webhook_data: Any = None
) -> BackgroundExecution:
    """A manual or webhook run: created now, dispatched by the caller."""
    now = timezone.now()
    with transaction.atomic():
        execution = _new_execution(
            subscription,
            trigger_type=trigger_type,
            reason=reason or ("Manual trigger" if trigger_type == MANUAL else "Webhook"),
            now=now,
            webhook_data=webhook_data,
        )
        Subscription.objects.filter(pk=subscription.pk).update(
            last_execution_time=now, execution_count=F("execution_count") + 1, updated_at=now
        )
    _emit_after_commit(execution.pk)
    return execution


def manual_trigger(*, actor: User, subscription_id: int) -> BackgroundExecution:
    subscription = selectors.owned_subscription(actor, subscription_id)
    return trigger_now(subscription, trigger_type=MANUAL)


def webhook_trigger(subscription: Subscription, data: Any) -> BackgroundExecution:
    return trigger_now(subscription, trigger_type=WEBHOOK, webhook_data=data)


# --- the status machine -----------------------------------------------------------------------------


def transition(execution: BackgroundExecution, target: str, **changes: Any) -> BackgroundExecution:
    """Moves ``execution`` (as read, with its version) to ``target``; refused if the status
    machine forbids it or someone changed the row since it was read."""
    if not statuses.allowed(execution.status, target):
        raise InvalidExecutionTransition(f"Cannot change an execution from {execution.status} to {target}")
    now = timezone.now()
    if target == statuses.RUNNING and execution.started_at is None:
        changes.setdefault("started_at", now)
    if target in statuses.TERMINAL:
        changes.setdefault("completed_at", now)
    changed = BackgroundExecution.objects.filter(pk=execution.pk, version=execution.version).update(
        status=target, version=F("version") + 1, updated_at=now, **changes
    )
    if not changed:
        raise StaleExecution()
    execution.refresh_from_db()
    if target in statuses.TERMINAL:
        _count_result(execution)
    _emit_after_commit(execution.pk)
    return execution


def _count_result(execution: BackgroundExecution) -> None:
    # COMPLETED_SILENT leaves the success/failure counters alone (reference §2.2).
    counters: dict[str, Any] = {
        "last_execution_status": execution.status,
        "last_execution_time": execution.completed_at,
    }
    if execution.status == statuses.COMPLETED:
        counters["success_count"] = F("success_count") + 1
    elif execution.status == statuses.FAILED:
        counters["failure_count"] = F("failure_count") + 1
    Subscription.objects.filter(pk=execution.subscription_id).update(**counters)


def mark_silent(execution_id: int, reason: str) -> None:
    """The agent asked to end this run silently (``silent_exit``); applied when it ends."""
    BackgroundExecution.objects.filter(pk=execution_id, status=statuses.RUNNING).update(
        silent_reason=reason or "Nothing to report", updated_at=timezone.now()
    )


def cancel(*, actor: User, execution_id: int) -> BackgroundExecution:
    """Ends the execution CANCELLED and stops its task's answer if one is streaming."""
    execution = selectors.own_execution(actor, execution_id)
    if execution.status in statuses.TERMINAL:
        raise BadRequest(f"Execution is already {execution.status}")
    execution = transition(execution, statuses.CANCELLED)
    if execution.task_id:
        try:
            lifecycle.cancel_task(actor=actor, task_id=execution.task_id)
        except DomainError:
            pass  # the task already ended (or is gone): nothing runs any more
    return execution


@dataclass
class Recovered:
    requeued: list[int] = field(default_factory=list)
    failed: int = 0
    cancelled: int = 0


def recover_stale(*, pending_hours: float, running_hours: float) -> Recovered:
    """PENDING executions older than ``pending_hours`` are queued again (CANCELLED when their
    subscription was deleted); RUNNING ones older than ``running_hours`` end FAILED. Reads
    executions by status only: idle subscriptions cost nothing."""
    now = timezone.now()
    found = Recovered()
    pending = BackgroundExecution.objects.filter(
        status=statuses.PENDING, updated_at__lt=now - timedelta(hours=pending_hours)
    ).select_related("subscription")
    for execution in pending[:STALE_BATCH]:
        try:
            if not execution.subscription.is_active:
                transition(execution, statuses.CANCELLED, error_message="Subscription was deleted")
                found.cancelled += 1
            else:
                found.requeued.append(execution.pk)
        except StaleExecution:
            continue  # changed meanwhile: someone else has it
    running = BackgroundExecution.objects.filter(
        status__in=[statuses.RUNNING, statuses.RETRYING], updated_at__lt=now - timedelta(hours=running_hours)
    ).select_related("subscription")
    for execution in running[:STALE_BATCH]:
        try:
            transition(execution, statuses.FAILED, error_message="Execution timed out (no progress)")
            found.failed += 1
        except (StaleExecution, InvalidExecutionTransition):
            continue
    return found


def delete(*, actor: User, execution_id: int) -> None:
    execution = selectors.own_execution(actor, execution_id)
    if not execution.can_delete:
        raise BadRequest("Only finished executions can be deleted")
    BackgroundExecution.objects.filter(pk=execution.pk, version=execution.version).delete()


# --- events ----------------------------------------------------------------------------------------


def _emit_after_commit(execution_id: int) -> None:
    transaction.on_commit(lambda: emit_update(execution_id))


def emit_update(execution_id: int, execution: BackgroundExecution | None = None) -> None:
    """``background:execution_update`` to the owner; ``execution``: the row as just written
    (with its subscription), when the caller has it."""
    if execution is None:
        execution = BackgroundExecution.objects.select_related("subscription").filter(pk=execution_id).first()
    if execution is None:
        return
    try:
        emitter.emit_sync(
            protocol.EXECUTION_UPDATE,
            protocol.execution_update(execution),
            room=user_room(execution.user_id),
            namespace="/chat",
        )
    except Exception:  # an event that cannot be delivered never fails the run
        logger.exception("background:execution_update for execution %s not sent", execution_id)
