"""Operator console for tasks: browse conversations and their messages, stop stuck work.

Rows are read-only here: tasks and messages change through the services (the admin actions
call them), so the status rules and the task status derived from its messages stay true.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tasks import statuses
from tasks.models import Project, Subtask, SubtaskContext, TaskResource
from tasks.services import lifecycle, projects
from wegent.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SubtaskInline(admin.TabularInline):
    model = Subtask
    fields = ("message_id", "role", "status", "sender_user", "prompt", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("message_id",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TaskResource)
class TaskResourceAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "title",
        "owner",
        "status",
        "task_type",
        "is_group_chat",
        "is_active",
        "updated_at",
    )
    list_filter = ("kind", "status", "task_type", "is_group_chat", "is_active")
    search_fields = ("title", "name", "owner__user_name")
    list_select_related = ("owner",)
    readonly_fields = [field.name for field in TaskResource._meta.fields]
    inlines = [SubtaskInline]
    actions = ["cancel_tasks"]

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[TaskResource]) -> None:
        done = 0
        for task in queryset.filter(kind="Task", is_active=True).select_related("owner"):
            try:
                lifecycle.cancel_task(actor=task.owner, task_id=task.pk)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Task {task.pk}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {done} task(s).")


@admin.register(Subtask)
class SubtaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "task", "message_id", "role", "status", "worker_id", "heartbeat_at", "updated_at")
    list_filter = ("role", "status")
    search_fields = ("prompt", "task__title")
    list_select_related = ("task",)
    readonly_fields = [field.name for field in Subtask._meta.fields]
    actions = ["fail_answers"]

    @admin.action(description="Mark selected running answers as FAILED")
    def fail_answers(self, request: HttpRequest, queryset: QuerySet[Subtask]) -> None:
        failed = 0
        for row in queryset.filter(role=Subtask.ASSISTANT, status__in=statuses.ACTIVE):
            lifecycle.update_subtask(
                row.pk,
                lifecycle.SubtaskChanges(status=statuses.FAILED, error_message="Stopped by an operator"),
            )
            failed += 1
        self.message_user(request, f"Marked {failed} answer(s) as FAILED.")


@admin.register(SubtaskContext)
class SubtaskContextAdmin(ReadOnlyAdmin):
    list_display = ("id", "context_type", "name", "user", "status", "subtask", "text_length", "created_at")
    list_filter = ("context_type", "status")
    search_fields = ("name", "user__user_name")
    list_select_related = ("user",)
    exclude = ("extracted_text",)
    readonly_fields = [f.name for f in SubtaskContext._meta.fields if f.name != "extracted_text"]


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    """Users' task folders. Deleting goes through the service (soft, and the folder's tasks are
    unfiled), so the stock hard delete is off."""

    list_display = ("id", "name", "user", "sort_order", "is_expanded", "is_active", "updated_at")
    list_filter = ("is_active", ("user", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "user__user_name")
    list_select_related = ("user",)
    readonly_fields = [field.name for field in Project._meta.fields]
    actions = ["delete_projects"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Delete selected projects (their tasks are kept, unfiled)")
    def delete_projects(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        done = 0
        for project in queryset.filter(is_active=True).select_related("user"):
            projects.delete_project(actor=project.user, project_id=project.pk)
            done += 1
        self.message_user(request, f"Deleted {done} project(s).")
