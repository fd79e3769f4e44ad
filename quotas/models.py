"""Quotas: limits on answers (requests) and tokens per day or month, set by staff in admin.

A quota applies to one user, to a group (the combined usage of its active members), or to
every user (each user's own usage). What is counted lives on the answers themselves
(``tasks.Subtask``: one row per answer, with the tokens its model calls used), so there is no
second ledger to keep in step.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.models import Group


class Quota(models.Model):
    USER, GROUP, EVERY_USER = "user", "group", "every_user"
    SCOPES = [(USER, "One user"), (GROUP, "A group (its members together)"), (EVERY_USER, "Every user")]
    DAY, MONTH = "day", "month"
    PERIODS = [(DAY, "Per day"), (MONTH, "Per month")]

    scope = models.CharField(max_length=16, choices=SCOPES, default=USER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas")
    period = models.CharField(max_length=8, choices=PERIODS, default=DAY)
    max_requests = models.PositiveIntegerField(
        null=True, blank=True, help_text="Answers started in the period (empty: no limit)."
    )
    max_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Input + output tokens used in the period (empty: no limit)."
    )
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "id"]
        constraints = [
            models.CheckConstraint(
                name="quota_scope_subject",
                condition=(
                    Q(scope="user", user__isnull=False, group__isnull=True)
                    | Q(scope="group", user__isnull=True, group__isnull=False)
                    | Q(scope="every_user", user__isnull=True, group__isnull=True)
                ),
            ),
            models.CheckConstraint(
                name="quota_has_a_limit",
                condition=Q(max_requests__isnull=False) | Q(max_tokens__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_label()}: {self.limits_label()} {self.get_period_display().lower()}"

    def subject_label(self) -> str:
        if self.scope == self.USER:
            return f"user {self.user.user_name if self.user else '?'}"
        if self.scope == self.GROUP:
            return f"group {self.group.name if self.group else '?'}"
        return "every user"

    def limits_label(self) -> str:
        parts = []
        if self.max_requests is not None:
            parts.append(f"{self.max_requests} answers")
        if self.max_tokens is not None:
            parts.append(f"{self.max_tokens} tokens")
        return " and ".join(parts)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.scope == self.USER and self.user_id is None:
            errors["user"] = "Choose the user this quota is for."
        if self.scope == self.GROUP and self.group_id is None:
            errors["group"] = "Choose the group this quota is for."
        if self.scope != self.USER and self.user_id is not None:
            errors["user"] = "Only a one-user quota names a user."
        if self.scope != self.GROUP and self.group_id is not None:
            errors["group"] = "Only a group quota names a group."
        if self.max_requests is None and self.max_tokens is None:
            errors["max_requests"] = "Set a limit on answers, on tokens, or both."
        if errors:
            raise ValidationError(errors)
