"""``/api/models``: unified model listings, legacy public-model CRUD, provider checks.

User-owned models are managed through the Kind API; these routes read the same rows. Writing
public models needs a system admin (the reference lets anyone do it).
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.adapters import models as adapter
from kinds.connections import ProviderTarget
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["models"]


# --- shapes ------------------------------------------------------------------------------------


class UnifiedModelsQuery(serializers.Serializer):
    shell_type = serializers.CharField(required=False, allow_blank=True, max_length=100)
    include_config = serializers.BooleanField(default=False)
    scope = serializers.CharField(default="personal", max_length=20)
    group_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    model_category_type = serializers.CharField(required=False, allow_blank=True, max_length=20)


class UnifiedModelQuery(serializers.Serializer):
    model_type = serializers.CharField(required=False, allow_blank=True, max_length=20)


class ModelNamesQuery(serializers.Serializer):
    shell_type = serializers.CharField(max_length=100)


class UnifiedModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="public, user or group")
    displayName = serializers.CharField(allow_null=True)
    provider = serializers.CharField(allow_null=True)
    modelId = serializers.CharField(allow_null=True)
    namespace = serializers.CharField()
    modelCategoryType = serializers.CharField()
    config = serializers.JSONField(required=False, help_text="modelConfig, secrets masked (include_config)")
    isActive = serializers.BooleanField(required=False)


UnifiedModelListSerializer = inline_serializer(
    "UnifiedModelList", {"data": UnifiedModelSerializer(many=True)}
)
ModelNamesSerializer = inline_serializer(
    "ModelNameList",
    {
        "data": inline_serializer(
            "ModelName",
            {"name": serializers.CharField(), "displayName": serializers.CharField(allow_null=True)},
            many=True,
        )
    },
)


class LegacyModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    config = serializers.JSONField(help_text="modelConfig, secrets masked")
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


LegacyModelListSerializer = inline_serializer(
    "LegacyModelList", {"total": serializers.IntegerField(), "items": LegacyModelSerializer(many=True)}
)


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    config = serializers.DictField()
    is_active = serializers.BooleanField(default=True)


class ModelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_null=True)
    config = serializers.DictField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False, allow_null=True)


class ModelBulkItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    env = serializers.DictField()
    is_active = serializers.BooleanField(required=False, allow_null=True)


ModelBulkResultSerializer = inline_serializer(
    "ModelBulkResult",
    {
        "created": LegacyModelSerializer(many=True),
        "updated": LegacyModelSerializer(many=True),
        "skipped": inline_serializer(
            "ModelBulkSkipped",
            {"name": serializers.CharField(), "reason": serializers.CharField()},
            many=True,
        ),
    },
)
MessageSerializer = inline_serializer("ModelMessage", {"message": serializers.CharField()})


class ProviderRequestSerializer(serializers.Serializer):
    """Fields are optional here: missing ones answer ``success: false`` as in the reference."""

    provider_type = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=50)
    api_key = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=4096, trim_whitespace=False
    )
    base_url = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2048)
    custom_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4096), required=False, allow_null=True
    )
    model_name = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=100,
        help_text="With a masked api_key: use the stored key of this model (own, group or public)",
    )
    namespace = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=100)


class ConnectionTestSerializer(ProviderRequestSerializer):
    model_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    model_category_type = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=20
    )


ConnectionResultSerializer = inline_serializer(
    "ModelConnectionResult", {"success": serializers.BooleanField(), "message": serializers.CharField()}
)
AvailableModelsSerializer = inline_serializer(
    "AvailableModels",
    {
        "success": serializers.BooleanField(),
        "models": inline_serializer(
            "AvailableModel",
            {
                "id": serializers.CharField(),
                "name": serializers.CharField(allow_null=True),
                "created": serializers.JSONField(allow_null=True),
                "owned_by": serializers.CharField(allow_null=True),
            },
            many=True,
        ),
        "message": serializers.CharField(required=False),
    },
)

PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description="Page size (max 100)"),
]


def _blank_to_none(value: Any) -> Any:
    return value or None


# --- views -------------------------------------------------------------------------------------


class UnifiedModelListView(APIView):
    @extend_schema(
        parameters=[UnifiedModelsQuery],
        responses=UnifiedModelListSerializer,
        tags=TAGS,
        operation_id="models_unified_list",
    )
    def get(self, request: Request) -> Response:
        query = validate_query(UnifiedModelsQuery, request)
        data = adapter.list_unified_models(
            actor=request.user,
            shell_type=_blank_to_none(query.get("shell_type")),
            include_config=query["include_config"],
            scope=query["scope"],
            group_name=_blank_to_none(query.get("group_name")),
            category=_blank_to_none(query.get("model_category_type")),
        )
        return Response({"data": data})


class UnifiedModelDetailView(APIView):
    @extend_schema(parameters=[UnifiedModelQuery], responses=UnifiedModelSerializer, tags=TAGS)
    def get(self, request: Request, model_name: str) -> Response:
        query = validate_query(UnifiedModelQuery, request)
        model = adapter.get_unified_model(
            actor=request.user, name=model_name, model_type=_blank_to_none(query.get("model_type"))
        )
        return Response(model)


class ModelNamesView(APIView):
    @extend_schema(parameters=[ModelNamesQuery], responses=ModelNamesSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = validate_query(ModelNamesQuery, request)
        return Response({"data": adapter.model_names(actor=request.user, shell_type=query["shell_type"])})


class CompatibleModelsView(APIView):
    """``/models/compatible``: the reference registers it but routes it to ``/models/{id}`` (422).

    Here it answers: the caller's and public models a shell of that type (or name) can use, in
    the unified shape, with every scope the caller can read.
    """

    @extend_schema(
        parameters=[ModelNamesQuery],
        responses=UnifiedModelListSerializer,
        tags=TAGS,
        operation_id="models_compatible_list",
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ModelNamesQuery, request)
        data = adapter.list_unified_models(
            actor=request.user,
            shell_type=query["shell_type"],
            include_config=False,
            scope="all",
            group_name=None,
            category=None,
        )
        return Response({"data": data})


class ModelListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMS, responses=LegacyModelListSerializer, tags=TAGS, operation_id="models_list"
    )
    def get(self, request: Request) -> Response:
        rows, total = paginate(adapter.public_models(), page_params(request))
        return Response(envelope([adapter.public_model_item(row) for row in rows], total))

    @extend_schema(
        request=ModelCreateSerializer,
        responses={201: LegacyModelSerializer},
        tags=TAGS,
        description="Creates a public model; system admins only.",
    )
    def post(self, request: Request) -> Response:
        data = validate_body(ModelCreateSerializer, request)
        row = adapter.create_public_model(
            actor=request.user, name=data["name"], config=data["config"], is_active=data["is_active"]
        )
        return Response(adapter.public_model_item(row), status=201)


class ModelBatchView(APIView):
    @extend_schema(
        request=ModelBulkItemSerializer(many=True), responses={201: ModelBulkResultSerializer}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        serializer = ModelBulkItemSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        result = adapter.upsert_public_models(actor=request.user, items=list(serializer.validated_data))
        body = {
            "created": [adapter.public_model_item(row) for row in result["created"]],
            "updated": [adapter.public_model_item(row) for row in result["updated"]],
            "skipped": result["skipped"],
        }
        return Response(body, status=201)


class ModelDetailView(APIView):
    @extend_schema(responses=LegacyModelSerializer, tags=TAGS)
    def get(self, request: Request, model_id: int) -> Response:
        return Response(adapter.public_model_item(adapter.get_public_model(model_id)))

    @extend_schema(request=ModelUpdateSerializer, responses=LegacyModelSerializer, tags=TAGS)
    def put(self, request: Request, model_id: int) -> Response:
        data = validate_body(ModelUpdateSerializer, request)
        row = adapter.update_public_model(
            actor=request.user,
            model_id=model_id,
            name=data.get("name"),
            config=data.get("config"),
            is_active=data.get("is_active"),
        )
        return Response(adapter.public_model_item(row))

    @extend_schema(responses=MessageSerializer, tags=TAGS)
    def delete(self, request: Request, model_id: int) -> Response:
        adapter.delete_public_model(actor=request.user, model_id=model_id)
        return Response({"message": "Model deleted successfully"})


def _provider_target(data: dict[str, Any]) -> ProviderTarget:
    return ProviderTarget(
        provider_type=data.get("provider_type"),
        api_key=data.get("api_key"),
        base_url=_blank_to_none(data.get("base_url")),
        custom_headers=data.get("custom_headers"),
        model_name=_blank_to_none(data.get("model_name")),
        namespace=_blank_to_none(data.get("namespace")),
    )


class ModelTestConnectionView(APIView):
    @extend_schema(request=ConnectionTestSerializer, responses=ConnectionResultSerializer, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(ConnectionTestSerializer, request)
        from kinds import model_checks  # imports the model SDKs: only when a check runs

        result = model_checks.check_connection(
            request.user,
            _provider_target(data),
            model_id=data.get("model_id"),
            category=_blank_to_none(data.get("model_category_type")),
        )
        return Response(result)


class FetchAvailableModelsView(APIView):
    @extend_schema(request=ProviderRequestSerializer, responses=AvailableModelsSerializer, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(ProviderRequestSerializer, request)
        from kinds import model_checks  # imports the model SDKs: only when a check runs

        result = model_checks.fetch_available_models(request.user, _provider_target(data))
        return Response(result)


urlpatterns = [
    path("models/unified", UnifiedModelListView.as_view(), name="models-unified"),
    path("models/unified/<str:model_name>", UnifiedModelDetailView.as_view(), name="models-unified-detail"),
    path("models/names", ModelNamesView.as_view(), name="models-names"),
    path("models/compatible", CompatibleModelsView.as_view(), name="models-compatible"),
    path("models/batch", ModelBatchView.as_view(), name="models-batch"),
    path("models/test-connection", ModelTestConnectionView.as_view(), name="models-test-connection"),
    path("models/fetch-available-models", FetchAvailableModelsView.as_view(), name="models-fetch-available"),
    path("models", ModelListView.as_view(), name="models"),
    path("models/<int:model_id>", ModelDetailView.as_view(), name="model-detail"),
]
