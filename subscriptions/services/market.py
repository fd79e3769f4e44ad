"""The market (reference extras §2.3): ``market`` subscriptions others may rent. A rental is
the renter's own private subscription with its own schedule; its team and prompt are the
source's, read at run time, so the renter never sees the prompt."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet

from accounts.models import User
from subscriptions.exceptions import DuplicateSubscription, SubscriptionNotFound
from subscriptions.models import MARKET, PRIVATE, Subscription
from subscriptions.services import schedules
from subscriptions.services import subscriptions as service
from wegent.errors import BadRequest

HIDDEN_PROMPT = "(the rented subscription's prompt)"


def listed(*, sort_by: str, search: str | None) -> QuerySet[Subscription]:
    rows = Subscription.objects.filter(visibility=MARKET, is_active=True).select_related("owner")
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(document__spec__displayName__icontains=search))
    order = ["-rental_count", "-id"] if sort_by == "rental_count" else ["-created_at", "-id"]
    return rows.order_by(*order)


def market_row(subscription_id: int) -> Subscription:
    row = listed(sort_by="recent", search=None).filter(pk=subscription_id).first()
    if row is None:
        raise SubscriptionNotFound()
    return row


def rented_ids(actor: User, source_ids: list[int]) -> set[int]:
    rows = Subscription.objects.filter(owner=actor, is_active=True, source_id__in=source_ids)
    return set(rows.values_list("source_id", flat=True))


def rentals(actor: User) -> QuerySet[Subscription]:
    rows = Subscription.objects.filter(owner=actor, is_active=True, source__isnull=False)
    return rows.select_related("owner", "source", "source__owner", "periodic_task").order_by(
        "-created_at", "-id"
    )


def rent(*, actor: User, subscription_id: int, data: dict[str, Any]) -> Subscription:
    source = market_row(subscription_id)
    if source.owner_id == actor.pk:
        raise BadRequest("Cannot rent your own subscription")
    if rented_ids(actor, [source.pk]):
        raise BadRequest("You have already rented this subscription")
    model_ref = data.get("model_ref")
    fields = service.SubscriptionInput.of(
        {
            "name": data["name"],
            "display_name": data["display_name"],
            "trigger_type": data["trigger_type"],
            "trigger_config": data.get("trigger_config") or {},
            "model_ref": model_ref,
            "team_id": source.team_id,
            "prompt_template": HIDDEN_PROMPT,
            "visibility": PRIVATE,
            "task_type": source.spec.get("taskType") or "collection",
            "description": source.spec.get("description") or "",
        }
    )
    full = service.merged_for_create(fields)
    trigger = service.checked_trigger(full)
    service.check_model(actor, model_ref)
    try:
        with transaction.atomic():
            row = Subscription.objects.create(
                owner=actor,
                name=full.name,
                document=service.document_for(full, trigger),
                enabled=True,
                trigger_type=str(full.trigger_type),
                visibility=PRIVATE,
                team_id=source.team_id,
                source=source,
                **service.webhook_fields(str(full.trigger_type)),
            )
            schedules.sync(row, reschedule=True)
            Subscription.objects.filter(pk=source.pk).update(rental_count=F("rental_count") + 1)
    except IntegrityError as exc:
        raise DuplicateSubscription(f"Subscription '{full.name}' already exists") from exc
    return row
