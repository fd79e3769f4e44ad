"""Quotas in the console: set per user, per group or for every user; the list shows what the
subject has used in the current period."""

from __future__ import annotations

from django.contrib import admin

from quotas import selectors
from quotas.models import Quota


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "period", "max_requests", "max_tokens", "is_active", "used_now", "note")
    list_filter = ("scope", "period", "is_active")
    search_fields = ("user__user_name", "group__name", "note")
    autocomplete_fields = ("user", "group")
    list_select_related = ("user", "group")
    fields = ("scope", "user", "group", "period", "max_requests", "max_tokens", "is_active", "note")

    @admin.display(description="Applies to")
    def subject(self, obj: Quota) -> str:
        return obj.subject_label()

    @admin.display(description="Used this period")
    def used_now(self, obj: Quota) -> str:
        """Answers and tokens used so far (for "every user": not one figure, left blank)."""
        if obj.scope == Quota.EVERY_USER or not obj.is_active:
            return "-"
        rule = selectors.rule_of(obj)
        figure = selectors.figures(obj.user_id or 0, [rule])[0]
        return f"{figure.used_requests} answers, {figure.used_tokens} tokens"
