"""``/api/projects``: the caller's folders of tasks, CRUD, and filing tasks in them (reference
extras §4 "Projects", rest §6). A CRUD resource, so a ViewSet on a router (DESIGN §3); the
router builds ``path()`` routes with ``<int:...>`` converters like the rest of the URL map.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from tasks import selectors
from tasks.models import MAX_PROJECT_COLOR, MAX_PROJECT_NAME, Project, TaskResource
from tasks.services import projects
from wegent.api.pagination import envelope
from wegent.api.validation import validate_body, validate_query

TAGS = ["projects"]
MAX_DESCRIPTION = 10_000
MAX_SORT_ORDER = 2**31 - 1  # a 32-bit integer column on every database


# --- request bodies ------------------------------------------------------------------------------


class _Text(serializers.CharField):
    """A string only: a number or a list is an error, not text (the reference's str fields)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class _ProjectFields(serializers.Serializer):
    """Shared fields; unknown fields are ignored, as elsewhere in the API."""

    description = _Text(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, max_length=MAX_DESCRIPTION
    )
    color = _Text(required=False, allow_null=True, allow_blank=True, max_length=MAX_PROJECT_COLOR)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # null description/color mean "none": the reference answers "" for both.
        for key in ("description", "color"):
            if key in attrs and attrs[key] is None:
                attrs[key] = ""
        return attrs


class ProjectCreateSerializer(_ProjectFields):
    name = _Text(max_length=MAX_PROJECT_NAME)


class ProjectUpdateSerializer(_ProjectFields):
    name = _Text(required=False, max_length=MAX_PROJECT_NAME)
    sort_order = serializers.IntegerField(
        required=False, min_value=-MAX_SORT_ORDER - 1, max_value=MAX_SORT_ORDER
    )
    is_expanded = serializers.BooleanField(required=False)


class ProjectListQuery(serializers.Serializer):
    include_tasks = serializers.BooleanField(default=True)


class ProjectTaskCreateSerializer(serializers.Serializer):
    task_id = serializers.IntegerField(min_value=1, max_value=selectors.MAX_ID)


def _changes(data: dict[str, Any]) -> projects.ProjectChanges:
    return projects.ProjectChanges(
        name=data.get("name"),
        description=data.get("description"),
        color=data.get("color"),
        sort_order=data.get("sort_order"),
        is_expanded=data.get("is_expanded"),
    )


# --- response shapes -----------------------------------------------------------------------------


class ProjectTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    task_title = serializers.CharField()
    task_status = serializers.CharField()
    is_group_chat = serializers.BooleanField()
    project_id = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)


class ProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    color = serializers.CharField()
    sort_order = serializers.IntegerField()
    is_expanded = serializers.BooleanField()
    task_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProjectWithTasksSerializer(ProjectSerializer):
    tasks = ProjectTaskSerializer(many=True)


class ProjectListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = ProjectWithTasksSerializer(many=True)


class AddTaskResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    project_task = ProjectTaskSerializer()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


def project_task(task: TaskResource) -> dict[str, Any]:
    return {
        "task_id": task.pk,
        "task_title": task.title or task.name or f"Task #{task.pk}",
        "task_status": task.status,
        "is_group_chat": task.is_group_chat,
        "project_id": task.project_id,
        "updated_at": task.updated_at,
    }


def project_out(project: Project, task_count: int) -> dict[str, Any]:
    return {
        "id": project.pk,
        "user_id": project.user_id,
        "name": project.name,
        "description": project.description,
        "color": project.color,
        "sort_order": project.sort_order,
        "is_expanded": project.is_expanded,
        "task_count": task_count,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


def projects_out(actor: Any, rows: list[Project], *, include_tasks: bool) -> list[dict[str, Any]]:
    """Projects with their tasks (or only their counts), in one query for all of them."""
    ids = [row.pk for row in rows]
    if not include_tasks:
        counts = selectors.project_task_counts(actor, ids)
        return [{**project_out(row, counts.get(row.pk, 0)), "tasks": []} for row in rows]
    filed: dict[int, list[dict[str, Any]]] = {pk: [] for pk in ids}
    for task in selectors.project_tasks(actor, ids):
        filed[task.project_id].append(project_task(task))
    return [{**project_out(row, len(filed[row.pk])), "tasks": filed[row.pk]} for row in rows]


# --- views ---------------------------------------------------------------------------------------

NOT_FOUND = OpenApiResponse(description='"Project not found"')


@extend_schema_view(
    list=extend_schema(parameters=[ProjectListQuery], responses=ProjectListSerializer),
    create=extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer}),
    retrieve=extend_schema(responses={200: ProjectWithTasksSerializer, 404: NOT_FOUND}),
    update=extend_schema(request=ProjectUpdateSerializer, responses={200: ProjectSerializer, 404: NOT_FOUND}),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND}),
)
@extend_schema(tags=TAGS)
class ProjectViewSet(viewsets.ViewSet):
    lookup_field = "project_id"
    lookup_value_converter = "int"

    def list(self, request: Request) -> Response:
        include_tasks = validate_query(ProjectListQuery, request)["include_tasks"]
        rows = list(selectors.projects_for(request.user))
        return Response(envelope(projects_out(request.user, rows, include_tasks=include_tasks), len(rows)))

    def create(self, request: Request) -> Response:
        changes = _changes(validate_body(ProjectCreateSerializer, request))
        project = projects.create_project(actor=request.user, changes=changes)
        return Response(project_out(project, 0), status=201)

    def retrieve(self, request: Request, project_id: int) -> Response:
        project = selectors.owned_project(request.user, project_id)
        return Response(projects_out(request.user, [project], include_tasks=True)[0])

    def update(self, request: Request, project_id: int) -> Response:
        changes = _changes(validate_body(ProjectUpdateSerializer, request))
        project = projects.update_project(actor=request.user, project_id=project_id, changes=changes)
        count = selectors.project_task_counts(request.user, [project.pk]).get(project.pk, 0)
        return Response(project_out(project, count))

    def destroy(self, request: Request, project_id: int) -> Response:
        projects.delete_project(actor=request.user, project_id=project_id)
        return Response(status=204)

    @extend_schema(
        request=ProjectTaskCreateSerializer,
        responses={
            201: AddTaskResponseSerializer,
            404: OpenApiResponse(description='"Project not found" or "Task not found"'),
        },
    )
    @action(detail=True, methods=["post"], url_path="tasks", url_name="tasks")
    def add_task(self, request: Request, project_id: int) -> Response:
        task_id = validate_body(ProjectTaskCreateSerializer, request)["task_id"]
        task = projects.add_task(actor=request.user, project_id=project_id, task_id=task_id)
        body = {"message": "Task added to project successfully", "project_task": project_task(task)}
        return Response(body, status=201)

    @extend_schema(
        responses={
            200: MessageSerializer,
            404: OpenApiResponse(description='"Project not found" or "Task not found in project"'),
        },
    )
    @action(detail=True, methods=["delete"], url_path="tasks/<int:task_id>", url_name="task")
    def remove_task(self, request: Request, project_id: int, task_id: int) -> Response:
        projects.remove_task(actor=request.user, project_id=project_id, task_id=task_id)
        return Response({"message": "Task removed from project successfully"})


router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("projects", ProjectViewSet, basename="project")
urlpatterns = router.urls
