"""``/api/tasks/{id}/...``: skills, pipeline stage info and confirmation, preserve-executor,
services (``status.app``) and the DOCX export (reference §6.7).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks import selectors
from tasks.services import export, extras
from wegent.api.validation import validate_body, validate_query

TAGS = ["tasks"]
MAX_SERVICE_FIELD = 4096
MAX_EXPORT_IDS = 1000


# --- shapes --------------------------------------------------------------------------------------


class TaskSkillsSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    team_id = serializers.IntegerField(allow_null=True)
    team_namespace = serializers.CharField()
    skills = serializers.ListField(child=serializers.CharField())
    preload_skills = serializers.ListField(child=serializers.CharField())


class StageSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    name = serializers.CharField()
    require_confirmation = serializers.BooleanField()
    status = serializers.ChoiceField(["pending", "running", "completed", "failed", "pending_confirmation"])


class PipelineStageInfoSerializer(serializers.Serializer):
    current_stage = serializers.IntegerField()
    total_stages = serializers.IntegerField()
    current_stage_name = serializers.CharField()
    is_pending_confirmation = serializers.BooleanField()
    stages = StageSerializer(many=True)


class ConfirmStageSerializer(serializers.Serializer):
    confirmed_prompt = serializers.CharField(allow_blank=True, trim_whitespace=False)
    action = serializers.ChoiceField([extras.CONTINUE, extras.RETRY], default=extras.CONTINUE)


class ConfirmStageResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    task_id = serializers.IntegerField()
    current_stage = serializers.IntegerField()
    total_stages = serializers.IntegerField()
    next_stage_name = serializers.CharField(allow_null=True)


class PreserveExecutorSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    preserve_executor = serializers.BooleanField()
    message = serializers.CharField()


def _service_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, max_length=MAX_SERVICE_FIELD
    )


class ServiceUpdateSerializer(serializers.Serializer):
    name = _service_field()
    host = _service_field()
    previewUrl = _service_field()
    mysql = _service_field()


class ServiceDeleteSerializer(serializers.Serializer):
    fields = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100)


class ServiceResponseSerializer(serializers.Serializer):
    app = serializers.DictField()


class ExportQuery(serializers.Serializer):
    message_ids = serializers.CharField(required=False, allow_blank=True, trim_whitespace=True)

    def validate_message_ids(self, value: str) -> list[int] | None:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts:
            return None
        if len(parts) > MAX_EXPORT_IDS:
            raise serializers.ValidationError(f"At most {MAX_EXPORT_IDS} message ids")
        try:
            ids = [int(part) for part in parts]
        except ValueError:
            raise serializers.ValidationError(
                "Invalid message_ids format. Must be comma-separated integers."
            ) from None
        if any(not 0 < item <= selectors.MAX_ID for item in ids):
            raise serializers.ValidationError("Message ids must be positive integers")
        return ids


# --- views ---------------------------------------------------------------------------------------


class TaskSkillsView(APIView):
    @extend_schema(responses=TaskSkillsSerializer, tags=TAGS, operation_id="tasks_skills")
    def get(self, request: Request, task_id: int) -> Response:
        return Response(extras.task_skills(actor=request.user, task_id=task_id))


class PipelineStageInfoView(APIView):
    @extend_schema(responses=PipelineStageInfoSerializer, tags=TAGS, operation_id="tasks_pipeline_stage_info")
    def get(self, request: Request, task_id: int) -> Response:
        return Response(extras.pipeline_stage_info(actor=request.user, task_id=task_id))


class ConfirmStageView(APIView):
    @extend_schema(
        request=ConfirmStageSerializer,
        responses=ConfirmStageResponseSerializer,
        tags=TAGS,
        operation_id="tasks_confirm_stage",
    )
    def post(self, request: Request, task_id: int) -> Response:
        data = validate_body(ConfirmStageSerializer, request)
        return Response(
            extras.confirm_stage(
                actor=request.user,
                task_id=task_id,
                confirmed_prompt=data["confirmed_prompt"],
                action=data["action"],
            )
        )


class PreserveExecutorView(APIView):
    @extend_schema(
        request=None,
        responses=PreserveExecutorSerializer,
        tags=TAGS,
        operation_id="tasks_preserve_executor_set",
    )
    def post(self, request: Request, task_id: int) -> Response:
        return Response(extras.set_preserve_executor(actor=request.user, task_id=task_id, preserve=True))

    @extend_schema(
        request=None,
        responses=PreserveExecutorSerializer,
        tags=TAGS,
        operation_id="tasks_preserve_executor_cancel",
    )
    def delete(self, request: Request, task_id: int) -> Response:
        return Response(extras.set_preserve_executor(actor=request.user, task_id=task_id, preserve=False))


class TaskServicesView(APIView):
    @extend_schema(responses=ServiceResponseSerializer, tags=TAGS, operation_id="tasks_services_get")
    def get(self, request: Request, task_id: int) -> Response:
        return Response(extras.task_services(actor=request.user, task_id=task_id))

    @extend_schema(
        request=ServiceUpdateSerializer,
        responses=ServiceResponseSerializer,
        tags=TAGS,
        operation_id="tasks_services_update",
    )
    def post(self, request: Request, task_id: int) -> Response:
        data = validate_body(ServiceUpdateSerializer, request)
        return Response(extras.update_services(actor=request.user, task_id=task_id, fields=data))

    @extend_schema(
        request=ServiceDeleteSerializer,
        responses=ServiceResponseSerializer,
        tags=TAGS,
        operation_id="tasks_services_delete",
    )
    def delete(self, request: Request, task_id: int) -> Response:
        data = validate_body(ServiceDeleteSerializer, request)
        return Response(extras.delete_services(actor=request.user, task_id=task_id, names=data["fields"]))


class FileDownloadNegotiation(BaseContentNegotiation):
    """A file answers with its own type whatever ``Accept`` says (errors are still JSON)."""

    def select_parser(self, request, parsers):  # type: ignore[no-untyped-def]
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type


class TaskExportDocxView(APIView):
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "message_ids",
                OpenApiTypes.STR,
                required=False,
                description="Comma-separated message ids to export; all messages when absent",
            )
        ],
        responses={(200, export.MIME_TYPE): OpenApiTypes.BINARY},
        tags=TAGS,
        operation_id="tasks_export_docx",
    )
    def get(self, request: Request, task_id: int) -> HttpResponse:
        query = validate_query(ExportQuery, request)
        result = export.export_docx(actor=request.user, task_id=task_id, message_ids=query.get("message_ids"))
        response = HttpResponse(result.content, content_type=export.MIME_TYPE)
        response["Content-Disposition"] = export.content_disposition(result.filename)
        return response


urlpatterns = [
    path("tasks/<int:task_id>/skills", TaskSkillsView.as_view(), name="task-skills"),
    path(
        "tasks/<int:task_id>/pipeline-stage-info",
        PipelineStageInfoView.as_view(),
        name="task-pipeline-stage-info",
    ),
    path("tasks/<int:task_id>/confirm-stage", ConfirmStageView.as_view(), name="task-confirm-stage"),
    path(
        "tasks/<int:task_id>/preserve-executor", PreserveExecutorView.as_view(), name="task-preserve-executor"
    ),
    path("tasks/<int:task_id>/services", TaskServicesView.as_view(), name="task-services"),
    path("tasks/<int:task_id>/export/docx", TaskExportDocxView.as_view(), name="task-export-docx"),
]
