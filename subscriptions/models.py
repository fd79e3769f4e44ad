"""Subscriptions (scheduled or webhook agent runs) and their executions (reference extras §2.2).

A ``Subscription`` row is the reference's Subscription Kind: its ``document`` holds
``metadata``/``spec``/``status`` as clients see them. The reference keeps its mutable runtime
fields in a private ``_internal`` dict inside the document; here they are columns, so the
scheduler and the lists filter in SQL and the document stays what the user wrote.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django_celery_beat.models import PeriodicTask

from kinds.models import ResourceRow, live_name_unique, scope_index
from subscriptions import statuses

SUBSCRIPTION = "Subscription"
CRON, INTERVAL, ONE_TIME, EVENT = "cron", "interval", "one_time", "event"
TRIGGER_TYPES = (CRON, INTERVAL, ONE_TIME, EVENT)
TIMED_TRIGGERS = (CRON, INTERVAL, ONE_TIME)
MANUAL, WEBHOOK = "manual", "webhook"
EXECUTION_TRIGGERS = (CRON, INTERVAL, ONE_TIME, WEBHOOK, MANUAL)
PRIVATE, PUBLIC, MARKET = "private", "public", "market"
TASK_TYPES = ("collection", "execution")  # a label only (filters and display)


class Subscription(ResourceRow):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    kind = models.CharField(max_length=20, default=SUBSCRIPTION, editable=False)
    document = models.JSONField(default=dict)
    # Runtime fields (the reference's ``_internal``).
    enabled = models.BooleanField(default=True)
    trigger_type = models.CharField(max_length=16)
    visibility = models.CharField(max_length=16, default=PRIVATE)
    team_id = models.BigIntegerField()
    workspace_id = models.BigIntegerField(default=0)
    webhook_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Encrypted at rest (wegent.crypto); empty when the trigger is not a webhook.
    webhook_secret = models.TextField(blank=True, default="")
    # The one beat entry of an enabled timed subscription (None otherwise); kept in step by
    # ``services.schedules`` in the transaction that changes the subscription.
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscription"
    )
    # Start of an interval schedule's slots (fire times are anchor + k * interval).
    schedule_anchor = models.DateTimeField(null=True, blank=True)
    last_execution_time = models.DateTimeField(null=True, blank=True)
    last_execution_status = models.CharField(max_length=20, blank=True, default="")
    execution_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    bound_task_id = models.BigIntegerField(default=0)
    # Rentals (market): a private copy whose team and prompt come from ``source`` at run time.
    source = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rentals"
    )
    rental_count = models.PositiveIntegerField(default=0)
    # The owner's own notification preference (``/{id}/developer/notification-settings``).
    developer_settings = models.JSONField(default=dict, blank=True)

    class Meta(ResourceRow.Meta):
        constraints = [live_name_unique("uniq_live_subscription_name")]
        indexes = [
            scope_index("subscription_ns_scope_idx"),
            models.Index(fields=["owner", "is_active", "enabled"], name="subscription_owner_idx"),
            models.Index(fields=["visibility", "is_active"], name="subscription_visibility_idx"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.derive_keys()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "scope", "live"}
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return str(self.spec.get("displayName") or self.name)

    @property
    def trigger(self) -> dict[str, Any]:
        trigger = self.spec.get("trigger")
        return trigger if isinstance(trigger, dict) else {}

    @property
    def is_timed(self) -> bool:
        return self.trigger_type in TIMED_TRIGGERS

    @property
    def is_rental(self) -> bool:
        return self.source_id is not None


class BackgroundExecution(models.Model):
    """One run of a subscription (the reference's ``background_executions`` row)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="executions")
    task_id = models.BigIntegerField(default=0)
    trigger_type = models.CharField(max_length=16)
    trigger_reason = models.CharField(max_length=500, blank=True, default="")
    prompt = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, default=statuses.PENDING)
    result_summary = models.TextField(blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    retry_attempt = models.PositiveIntegerField(default=0)
    # Set when the agent called ``silent_exit``: the run ends COMPLETED_SILENT.
    silent_reason = models.CharField(max_length=500, blank=True, default="")
    # Optimistic lock: every status change bumps it and is refused if it moved meanwhile.
    version = models.PositiveIntegerField(default=1)
    # What makes a fire happen once: the schedule's fire time ("at:<iso>"); NULL for manual
    # and webhook runs (NULLs are distinct in unique keys on every supported database).
    fire_key = models.CharField(max_length=64, null=True, blank=True)
    # A rental's run: the user message its task shows a stand-in for; the model reads ``prompt``
    # (the source's, private to its owner) in its place. 0 for other runs.
    private_message_id = models.BigIntegerField(default=0, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "fire_key"], name="uniq_execution_fire"),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="execution_user_created_idx"),
            models.Index(fields=["subscription", "created_at"], name="execution_sub_created_idx"),
            models.Index(fields=["user", "status"], name="execution_user_status_idx"),
            # The stale-execution sweep reads by status and age only.
            models.Index(fields=["status", "updated_at"], name="execution_status_age_idx"),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of subscription {self.subscription_id} ({self.status})"

    @property
    def can_delete(self) -> bool:
        return self.status in statuses.TERMINAL


DIRECT, INVITED = "direct", "invited"
INVITE_PENDING, INVITE_ACCEPTED, INVITE_REJECTED = "pending", "accepted", "rejected"
NOTIFICATION_LEVELS = ("silent", "default", "notify")


class SubscriptionFollow(models.Model):
    """A user following a subscription: directly (public ones) or by the owner's invitation
    (which they accept or reject). Accepted follows put its executions in their timeline."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="follows")
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    follow_type = models.CharField(max_length=16, default=DIRECT)
    invited_by_user_id = models.BigIntegerField(default=0)
    invitation_status = models.CharField(max_length=16, default=INVITE_ACCEPTED)
    invited_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    # {notification_level: silent|default|notify, notification_channel_ids: [...]}
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "follower"], name="uniq_subscription_follower"),
        ]
        indexes = [
            models.Index(fields=["follower", "invitation_status"], name="follow_follower_status_idx"),
            models.Index(fields=["subscription", "invitation_status"], name="follow_sub_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.subscription_id} ({self.invitation_status})"


class SubscriptionShareNamespace(models.Model):
    """A subscription shared with a group (namespace): its members were invited."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="shared_namespaces")
    namespace_id = models.BigIntegerField()
    shared_by_user_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "namespace_id"], name="uniq_subscription_namespace"
            ),
        ]

    def __str__(self) -> str:
        return f"subscription {self.subscription_id} shared with group {self.namespace_id}"
