"""Operator console for messages, attachments and projects.

Rows are read-only here: messages change through the services (the admin actions call them),
so the status rules and the task status derived from its messages stay true. Tasks themselves
are shown by the task inspector (console/admin.py), whose actions go through the chat services.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tasks.models import Project, Subtask, SubtaskContext
from tasks.services import projects


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Subtask)
class SubtaskAdmin(ReadOnlyAdmin):
    list_display = ("id", "task", "message_id", "role", "status", "worker_id", "heartbeat_at", "updated_at")
    list_filter = ("role", "status", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("prompt", "task__title")
    list_select_related = ("task",)
    readonly_fields = [field.name for field in Subtask._meta.fields]
    # Ending a stuck answer is the console's action (console/admin.py), through chat's services.


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
            self.log_change(
                request, project, "Deleted the project from the console (its tasks are kept, unfiled)"
            )
            done += 1
        self.message_user(request, f"Deleted {done} project(s).")
