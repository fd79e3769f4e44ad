"""Subscriptions and executions in the operator console: filters, the beat entry, run now,
enable/disable (each through the services, so the beat entry stays in step)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from subscriptions import tasks
from subscriptions.models import BackgroundExecution, Subscription
from subscriptions.services import executions, schedules
from subscriptions.services import subscriptions as service
from wegent.errors import DomainError


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "owner",
        "trigger_type",
        "enabled",
        "visibility",
        "beat_entry",
        "next_run",
        "execution_count",
    )
    list_filter = ("enabled", "trigger_type", "visibility", "is_active")
    search_fields = ("name", "owner__user_name")
    list_select_related = (
        "owner",
        "periodic_task",
        "periodic_task__crontab",
        "periodic_task__interval",
        "periodic_task__clocked",
    )
    readonly_fields = (
        "owner",
        "name",
        "namespace",
        "document",
        "trigger_type",
        "team_id",
        "webhook_token",
        "beat_entry",
        "next_run",
        "last_execution_time",
        "last_execution_status",
        "execution_count",
        "success_count",
        "failure_count",
        "bound_task_id",
        "is_active",
        "enabled",
    )
    exclude = (
        "webhook_secret",
        "periodic_task",
        "schedule_anchor",
        "workspace_id",
        "visibility",
        "resource_version",
    )
    actions = ("run_now", "enable", "disable")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by users through the API (validated there)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # disable instead; deletes go through the API (soft, with the beat entry)

    @admin.display(description="Beat schedule")
    def beat_entry(self, obj: Subscription) -> str:
        entry = obj.periodic_task
        if entry is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[entry.pk])
        return format_html('<a href="{}">{}</a>', url, entry.name)

    @admin.display(description="Next run (UTC)")
    def next_run(self, obj: Subscription) -> Any:
        return schedules.next_fire_time(obj) or "-"

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        count = 0
        for row in queryset.filter(is_active=True):
            try:
                execution = executions.trigger_now(row, reason=f"Run from admin by {request.user}")
            except DomainError as exc:  # e.g. a rental whose source is gone
                self.message_user(request, f"{row.name}: {exc}", messages.WARNING)
                continue
            tasks.dispatch(execution.pk)
            count += 1
        self.message_user(request, f"{count} run(s) started", messages.SUCCESS)

    def _toggle(self, request: HttpRequest, queryset: QuerySet[Subscription], enabled: bool) -> None:
        done = 0
        for row in queryset.filter(is_active=True).select_related("owner"):
            try:
                service.toggle(actor=row.owner, subscription_id=row.pk, enabled=enabled)
                done += 1
            except DomainError as exc:  # one bad row (a past one-time run) must not stop the rest
                self.message_user(request, f"{row.name}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} subscription(s) {'enabled' if enabled else 'disabled'}")

    @admin.action(description="Enable")
    def enable(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._toggle(request, queryset, True)

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._toggle(request, queryset, False)


@admin.register(BackgroundExecution)
class BackgroundExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "subscription",
        "user",
        "trigger_type",
        "status",
        "task_link",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "trigger_type")
    search_fields = ("subscription__name", "user__user_name")
    list_select_related = ("subscription", "user")
    readonly_fields = [f.name for f in BackgroundExecution._meta.fields] + ["task_link"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Task (answer)")
    def task_link(self, obj: BackgroundExecution) -> str:
        if not obj.task_id:
            return "-"
        url = reverse("admin:tasks_taskresource_change", args=[obj.task_id])
        return format_html('<a href="{}">task {}</a>', url, obj.task_id)
