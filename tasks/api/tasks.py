"""``/api/tasks``: reserve ids, create and append (executor path), lists, search, detail,
update, delete and cancel (reference §6.7).
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.api.legacy_shapes import LegacyMessageSerializer
from tasks import selectors, shapes
from tasks.api.serializers import (
    CancelSerializer,
    NewTasksQuery,
    PersonalListQuery,
    SearchQuery,
    TaskCreateQuery,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskIdSerializer,
    TaskInDBSerializer,
    TaskListSerializer,
    TaskLiteListSerializer,
    TaskUpdateSerializer,
)
from tasks.services import lifecycle, turns
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["tasks"]
PAGE = [
    OpenApiParameter("page", OpenApiTypes.INT, required=False),
    OpenApiParameter("limit", OpenApiTypes.INT, required=False),
]
LITE_LIMIT = 50


def _options(data: dict[str, Any]) -> turns.TurnOptions:
    skills = data.pop("additional_skills", None) or []
    return turns.TurnOptions(
        prompt=data.pop("prompt"),
        title=data.get("title") or None,
        team_id=data.get("team_id"),
        team_name=data.get("team_name") or None,
        team_namespace=data.get("team_namespace") or "default",
        git_url=data["git_url"],
        git_repo=data["git_repo"],
        git_repo_id=data["git_repo_id"],
        git_domain=data["git_domain"],
        branch_name=data["branch_name"],
        type=data["type"],
        task_type=data["task_type"],
        auto_delete_executor=data["auto_delete_executor"],
        source=data["source"],
        model_id=data.get("model_id") or None,
        force_override_bot_model=data["force_override_bot_model"],
        force_override_bot_model_type=data.get("force_override_bot_model_type"),
        api_key_name=data.get("api_key_name") or None,
        additional_skills=[dict(skill) for skill in skills],
    )


def _created(request: Request, task_id: int | None) -> Response:
    options = _options(validate_body(TaskCreateSerializer, request))
    turn = turns.start_turn(actor=request.user, task_id=task_id, options=options)
    if turn.assistant_subtask is not None:  # a Chat-shell team's answer streams at once
        lifecycle.start_answer_after_commit(turn.task, turn.assistant_subtask)
    task = selectors.task_row(turn.task.pk)
    assert task is not None
    return Response(shapes.tasks_in_db([task])[0], status=201)


class TaskCollectionView(APIView):
    @extend_schema(parameters=PAGE, responses=TaskListSerializer, tags=TAGS, operation_id="tasks_list")
    def get(self, request: Request) -> Response:
        page = page_params(request)
        rows, total = paginate(selectors.all_tasks(request.user), page)
        return Response(envelope(shapes.tasks_in_db(rows), total))

    @extend_schema(request=None, responses=TaskIdSerializer, tags=TAGS, operation_id="tasks_reserve_id")
    def post(self, request: Request) -> Response:
        return Response({"task_id": turns.reserve_task_id(request.user)})


class TaskCreateView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("task_id", OpenApiTypes.INT, required=False)],
        request=TaskCreateSerializer,
        responses={201: TaskInDBSerializer},
        tags=TAGS,
        operation_id="tasks_create",
    )
    def post(self, request: Request) -> Response:
        task_id = validate_query(TaskCreateQuery, request).get("task_id")
        return _created(request, task_id)


class TaskLiteView(APIView):
    @extend_schema(parameters=PAGE, responses=TaskLiteListSerializer, tags=TAGS, operation_id="tasks_lite")
    def get(self, request: Request) -> Response:
        page = page_params(request)
        rows, total = paginate(selectors.listed_tasks(request.user).order_by("-id"), page)
        return Response(envelope(shapes.tasks_lite(rows), total))


class TaskLiteGroupView(APIView):
    @extend_schema(
        parameters=PAGE, responses=TaskLiteListSerializer, tags=TAGS, operation_id="tasks_lite_group"
    )
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=LITE_LIMIT)
        rows, total = paginate(selectors.group_tasks(request.user), page)
        return Response(envelope(shapes.tasks_lite(rows), total))


class TaskLitePersonalView(APIView):
    @extend_schema(
        parameters=[*PAGE, OpenApiParameter("types", OpenApiTypes.STR, required=False)],
        responses=TaskLiteListSerializer,
        tags=TAGS,
        operation_id="tasks_lite_personal",
    )
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=LITE_LIMIT)
        modes = validate_query(PersonalListQuery, request).get("types")
        rows, total = paginate(selectors.personal_tasks(request.user, modes), page)
        return Response(envelope(shapes.tasks_lite(rows), total))


class TaskLiteNewView(APIView):
    @extend_schema(parameters=[NewTasksQuery], responses=TaskLiteListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = validate_query(NewTasksQuery, request)
        rows = list(selectors.new_tasks(request.user, query["since_id"])[: query["limit"]])
        return Response(envelope(shapes.tasks_lite(rows), len(rows)))


class TaskSearchView(APIView):
    @extend_schema(parameters=[*PAGE, SearchQuery], responses=TaskListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        page = page_params(request)
        title = validate_query(SearchQuery, request)["title"]
        rows, total = paginate(selectors.search_tasks(request.user, title), page)
        return Response(envelope(shapes.tasks_in_db(rows), total))


class TaskDetailView(APIView):
    @extend_schema(responses=TaskDetailSerializer, tags=TAGS, operation_id="tasks_detail")
    def get(self, request: Request, task_id: int) -> Response:
        task = selectors.accessible_task(request.user, task_id)
        return Response(shapes.task_detail(task, request.user))

    @extend_schema(
        request=TaskCreateSerializer,
        responses={201: TaskInDBSerializer},
        tags=TAGS,
        operation_id="tasks_create_or_append",
    )
    def post(self, request: Request, task_id: int) -> Response:
        return _created(request, task_id)

    @extend_schema(request=TaskUpdateSerializer, responses=TaskInDBSerializer, tags=TAGS)
    def put(self, request: Request, task_id: int) -> Response:
        data = validate_body(TaskUpdateSerializer, request)
        changes = lifecycle.TaskChanges(
            title=data.get("title"),
            prompt=data.get("prompt"),
            status=data.get("status"),
            progress=data.get("progress"),
            result=data.get("result"),
            error_message=data.get("error_message"),
            git_url=data.get("git_url"),
            git_repo_id=data.get("git_repo_id"),
        )
        lifecycle.update_task(actor=request.user, task_id=task_id, changes=changes)
        task = selectors.task_row(task_id)
        assert task is not None
        return Response(shapes.tasks_in_db([task])[0])

    @extend_schema(responses=LegacyMessageSerializer, tags=TAGS)
    def delete(self, request: Request, task_id: int) -> Response:
        lifecycle.delete_task(actor=request.user, task_id=task_id)
        return Response({"message": "Task deleted successfully"})


class TaskCancelView(APIView):
    @extend_schema(request=None, responses=CancelSerializer, tags=TAGS)
    def post(self, request: Request, task_id: int) -> Response:
        return Response(lifecycle.cancel_task(actor=request.user, task_id=task_id))


urlpatterns = [
    path("tasks", TaskCollectionView.as_view(), name="tasks"),
    path("tasks/create", TaskCreateView.as_view(), name="tasks-create"),
    path("tasks/lite", TaskLiteView.as_view(), name="tasks-lite"),
    path("tasks/lite/group", TaskLiteGroupView.as_view(), name="tasks-lite-group"),
    path("tasks/lite/personal", TaskLitePersonalView.as_view(), name="tasks-lite-personal"),
    path("tasks/lite/new", TaskLiteNewView.as_view(), name="tasks-lite-new"),
    path("tasks/search", TaskSearchView.as_view(), name="tasks-search"),
    path("tasks/<int:task_id>", TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<int:task_id>/cancel", TaskCancelView.as_view(), name="task-cancel"),
]
