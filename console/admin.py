"""The task inspector: a task's messages in order (bots, statuses, timings, token usage,
attachments), the live text of a running answer, and the operator's actions on it (cancel,
retry a failed answer, end a stuck one as FAILED).

It lives here, not in tasks/admin.py, because its actions go through the chat services (the
same ones the web frontend's events use), which the tasks app sits below. Rows stay read-only:
the actions need the ``tasks.change_taskresource`` permission, viewing needs the view one.
Every action is recorded with ``log_change`` (the audit trail mirrors admin's log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from console import selectors, services
from tasks import statuses
from tasks.admin import SubtaskAdmin
from tasks.models import Subtask, TaskResource
from wegent.errors import DomainError

OPERATE = "tasks.change_taskresource"


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = {"api": "API", "executor": "Executor manager"}
        return [(source, labels.get(source, source.title())) for source in selectors.SOURCES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskResource]) -> QuerySet[TaskResource]:
        value = self.value()
        return selectors.tasks_from(queryset, value) if value in selectors.SOURCES else queryset


class TeamFilter(admin.SimpleListFilter):
    title = "team"
    parameter_name = "team"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(team_id), name) for team_id, name in selectors.teams_used()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskResource]) -> QuerySet[TaskResource]:
        value = self.value()
        if value and value.isdigit():
            return selectors.tasks_of_team(queryset, int(value))
        return queryset


@admin.register(TaskResource)
class TaskInspectorAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "title", "owner", "status", "source", "is_active", "updated_at")
    list_filter = (
        "status",
        SourceFilter,
        TeamFilter,
        ("owner", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        "kind",
        "is_active",
    )
    search_fields = ("title", "name", "owner__user_name")
    list_select_related = ("owner",)
    fields = (
        "kind",
        "namespace",
        "name",
        "title",
        "owner",
        "status",
        "source",
        "is_active",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    change_form_template = "console/task_inspector.html"
    actions = ["cancel_tasks"]

    # --- read-only rows ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def may_operate(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(OPERATE))

    @admin.display(description="source")
    def source(self, obj: TaskResource) -> str:
        return selectors.source_of(obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self.may_operate(request):
            actions.pop("cancel_tasks", None)
        return actions

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        task = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if task is not None:
            extra.update(
                task_messages=selectors.task_messages(task),
                may_operate=self.may_operate(request),
                live_url=reverse("admin:console_task_live", args=[task.pk]),
                cancel_url=reverse("admin:console_task_cancel", args=[task.pk]),
            )
        return super().change_view(request, object_id, form_url, extra)

    # --- the inspector's own URLs ---

    def get_urls(self) -> list[URLPattern]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(view)

        return [
            path("<int:task_id>/live/", wrap(self.live_view), name="console_task_live"),
            path("<int:task_id>/cancel/", wrap(require_POST(self.cancel_view)), name="console_task_cancel"),
            path(
                "<int:task_id>/answers/<int:subtask_id>/<str:operation>/",
                wrap(require_POST(self.answer_view)),
                name="console_task_answer",
            ),
            *super().get_urls(),
        ]

    def _task(self, request: HttpRequest, task_id: int, *, operate: bool) -> TaskResource:
        allowed = self.may_operate(request) if operate else self.has_view_permission(request)
        if not allowed:
            raise PermissionDeniedPage
        task = TaskResource.objects.filter(pk=task_id, kind="Task").select_related("owner").first()
        if task is None:
            raise Http404("Task not found")
        return task

    def live_view(self, request: HttpRequest, task_id: int) -> HttpResponse:
        """The task's answers with their text so far, polled by the inspector page."""
        try:
            task = self._task(request, task_id, operate=False)
        except PermissionDeniedPage:
            return JsonResponse({"detail": "Permission denied"}, status=403)
        return JsonResponse(
            {"task_id": task.pk, "status": task.status, "answers": selectors.live_answers(task)}
        )

    def _back(self, task: TaskResource) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:tasks_taskresource_change", args=[task.pk]))

    def cancel_view(self, request: HttpRequest, task_id: int) -> HttpResponse:
        try:
            task = self._task(request, task_id, operate=True)
        except PermissionDeniedPage:
            return HttpResponse("Permission denied", status=403)
        try:
            outcome = services.cancel(task)
        except DomainError as exc:
            self.message_user(request, f"Task {task.pk}: {exc.detail}", messages.ERROR)
        else:
            self.log_change(request, task, f"Cancelled the task from the console ({outcome})")
            self.message_user(request, f"Task {task.pk}: {outcome}.")
        return self._back(task)

    def answer_view(
        self, request: HttpRequest, task_id: int, subtask_id: int, operation: str
    ) -> HttpResponse:
        try:
            task = self._task(request, task_id, operate=True)
        except PermissionDeniedPage:
            return HttpResponse("Permission denied", status=403)
        run = {"retry": services.retry, "fail": services.end_as_failed}.get(operation)
        if run is None:
            raise Http404("Unknown operation")
        try:
            run(task, subtask_id)
        except DomainError as exc:
            self.message_user(request, f"Answer {subtask_id}: {exc.detail}", messages.ERROR)
        else:
            done = "Retried" if operation == "retry" else "Ended as FAILED"
            self.log_change(request, task, f"{done} answer {subtask_id} from the console")
            self.message_user(request, f"Answer {subtask_id}: {done.lower()}.")
        return self._back(task)

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[TaskResource]) -> None:
        if not self.may_operate(request):
            return
        done = 0
        for task in queryset.filter(kind="Task", is_active=True).select_related("owner"):
            try:
                outcome = services.cancel(task)
            except DomainError as exc:
                self.message_user(request, f"Task {task.pk}: {exc.detail}", messages.WARNING)
                continue
            self.log_change(request, task, f"Cancelled the task from the console ({outcome})")
            done += 1
        self.message_user(request, f"Cancelled {done} task(s).")


class PermissionDeniedPage(Exception):
    """The operator lacks the permission an inspector URL needs."""


# The messages list (tasks/admin.py) gains the console's action: ending answers goes through
# the same service as the inspector's "End as FAILED", so clients get chat:error.
admin.site.unregister(Subtask)


@admin.register(Subtask)
class ConsoleSubtaskAdmin(SubtaskAdmin):
    actions = ["fail_answers"]

    @admin.action(description="End selected running answers as FAILED (their clients get chat:error)")
    def fail_answers(self, request: HttpRequest, queryset: QuerySet[Subtask]) -> None:
        ended = 0
        rows = queryset.filter(role=Subtask.ASSISTANT, status__in=statuses.ACTIVE).select_related("task")
        for row in rows:
            try:
                services.end_as_failed(row.task, row.pk)
            except DomainError:
                continue  # it ended meanwhile
            self.log_change(request, row, "Ended the answer as FAILED from the console")
            ended += 1
        self.message_user(request, f"Ended {ended} answer(s) as FAILED.")
