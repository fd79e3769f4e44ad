"""What the subscriptions app plugs in (installed by SubscriptionsConfig.ready): the
``silent_exit`` chat tool, executor-team runs ended by their task's ending (``tasks.task_changed``),
and keeping beat entries and subscriptions in step when either is
deleted outside the services (a staff member deleting a beat entry in admin; a user's
account deleted, whose subscriptions go with it)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, pre_delete
from django_celery_beat.models import PeriodicTask

from subscriptions import tools
from subscriptions.models import Subscription
from subscriptions.services import runs
from tasks.services import events as task_events
from tasks.services import messages as task_messages
from tasks.services import turns


def _entry_deleted(sender: Any, instance: PeriodicTask, **_: Any) -> None:
    # The services unlink an entry before deleting it, so a subscription still linked here
    # lost its entry elsewhere: it stops being enabled (the entry was how it ran).
    for row in Subscription.objects.filter(periodic_task=instance):
        spec = {**row.spec, "enabled": False}
        Subscription.objects.filter(pk=row.pk).update(
            enabled=False, periodic_task=None, document={**row.document, "spec": spec}
        )


def _subscription_deleted(sender: Any, instance: Subscription, **_: Any) -> None:
    if instance.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()


def install() -> None:
    tools.register()  # silent_exit in subscription runs' answers
    task_events.task_listeners.register(runs.task_ended)
    task_messages.model_text_providers.register(runs.private_prompts)  # rentals' hidden prompts
    turns.team_resolvers.register(runs.rental_team)  # rentals run their publisher's team
    pre_delete.connect(_entry_deleted, sender=PeriodicTask, dispatch_uid="subscriptions.entry_deleted")
    post_delete.connect(_subscription_deleted, sender=Subscription, dispatch_uid="subscriptions.row_deleted")
