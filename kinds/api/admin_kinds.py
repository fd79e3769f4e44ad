"""``/api/admin/public-*`` (public resources by id) and ``/api/admin/users/.../kinds`` (Kind
management acting as another user). Every route requires a system admin.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds import services
from kinds.adapters import admin as adapter
from kinds.api.crd import DryRunQuery, XYAMLParser, YAMLParser
from wegent.api.pagination import envelope, page_params
from wegent.api.permissions import IsSystemAdmin
from wegent.api.validation import validate_body, validate_query

TAGS = ["admin"]


class AdminView(APIView):
    permission_classes = [IsSystemAdmin]


# --- public resources ----------------------------------------------------------------------------


class PublicListQuery(serializers.Serializer):
    chat_only = serializers.BooleanField(default=False, help_text="Teams only: teams offered in chat mode")


class PublicResourceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    namespace = serializers.CharField()
    display_name = serializers.CharField(allow_null=True)
    json = serializers.JSONField(help_text="The full resource document, secrets masked")
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    description = serializers.CharField(allow_null=True, required=False, help_text="Teams and retrievers")
    storageType = serializers.CharField(allow_null=True, required=False, help_text="Retrievers only")


PublicResourceListSerializer = inline_serializer(
    "AdminPublicResourceList",
    {"total": serializers.IntegerField(), "items": PublicResourceSerializer(many=True)},
)


class PublicCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    namespace = serializers.CharField(max_length=100, default="default")
    json = serializers.DictField(help_text="The resource document (apiVersion, kind, metadata, spec)")


class PublicUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_null=True)
    namespace = serializers.CharField(max_length=100, required=False, allow_null=True)
    json = serializers.DictField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False, allow_null=True)


PUBLIC_PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description="Page size (default 20, max 1000)"),
]


def _create_body(kind: str, data: Any) -> Any:
    """Retrievers may also be posted as a bare document, as the reference's admin UI does."""
    if kind == "Retriever" and isinstance(data, dict) and "json" not in data and "spec" in data:
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace") or "default",
            "json": data,
        }
    return data


class PublicResourceListView(AdminView):
    kind = ""

    @extend_schema(
        parameters=[*PUBLIC_PAGE_PARAMS, PublicListQuery], responses=PublicResourceListSerializer, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=20, max_limit=1000)
        query = validate_query(PublicListQuery, request)
        rows = adapter.public_rows(self.kind, chat_only=query["chat_only"])
        shown = rows[page.offset : page.offset + page.limit]
        return Response(envelope([adapter.public_item(row) for row in shown], len(rows)))

    @extend_schema(request=PublicCreateSerializer, responses={201: PublicResourceSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = PublicCreateSerializer(data=_create_body(self.kind, request.data))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row = adapter.create_public(
            actor=request.user,
            kind=self.kind,
            name=data["name"],
            namespace=data["namespace"],
            document=data["json"],
        )
        return Response(adapter.public_item(row), status=201)


class PublicResourceDetailView(AdminView):
    kind = ""

    @extend_schema(request=PublicUpdateSerializer, responses=PublicResourceSerializer, tags=TAGS)
    def put(self, request: Request, row_id: int) -> Response:
        data = validate_body(PublicUpdateSerializer, request)
        row = adapter.update_public(
            actor=request.user,
            kind=self.kind,
            row_id=row_id,
            name=data.get("name"),
            namespace=data.get("namespace"),
            document=data.get("json"),
            is_active=data.get("is_active"),
        )
        return Response(adapter.public_item(row))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, row_id: int) -> Response:
        adapter.delete_public(actor=request.user, kind=self.kind, row_id=row_id)
        return Response(status=204)


# --- Kind management as another user --------------------------------------------------------------


class NamespaceQuery(serializers.Serializer):
    namespace = serializers.CharField(default="default", max_length=100)


KINDS_PARAM = OpenApiParameter(
    "kinds", OpenApiTypes.STR, OpenApiParameter.PATH, description="Kind plural, e.g. ghosts, models, bots"
)
BatchResultSerializer = inline_serializer(
    "AdminKindBatchResult",
    {
        "success": serializers.BooleanField(),
        "message": serializers.CharField(),
        "results": serializers.ListField(child=serializers.DictField()),
        "dryRun": serializers.BooleanField(required=False),
    },
)


class UserKindView(AdminView):
    parser_classes = [JSONParser, YAMLParser, XYAMLParser]

    @staticmethod
    def namespace(request: Request) -> str:
        return validate_query(NamespaceQuery, request)["namespace"]


class UserKindListView(UserKindView):
    @extend_schema(
        parameters=[KINDS_PARAM, NamespaceQuery],
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
        operation_id="admin_users_kinds_list",
    )
    def get(
        self, request: Request, kinds: str, user_id: int | None = None, user_name: str | None = None
    ) -> Response:
        user = adapter.target_user(user_id=user_id, user_name=user_name)
        return Response(adapter.list_user_kinds(user=user, plural=kinds, namespace=self.namespace(request)))

    @extend_schema(
        parameters=[KINDS_PARAM, NamespaceQuery],
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def post(
        self, request: Request, kinds: str, user_id: int | None = None, user_name: str | None = None
    ) -> Response:
        user = adapter.target_user(user_id=user_id, user_name=user_name)
        document = adapter.create_user_kind(
            user=user, plural=kinds, namespace=self.namespace(request), body=request.data
        )
        return Response(document, status=201)


class UserKindDetailView(UserKindView):
    @extend_schema(parameters=[KINDS_PARAM, NamespaceQuery], responses=OpenApiTypes.OBJECT, tags=TAGS)
    def get(
        self,
        request: Request,
        kinds: str,
        name: str,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> Response:
        user = adapter.target_user(user_id=user_id, user_name=user_name)
        return Response(
            adapter.get_user_kind(user=user, plural=kinds, namespace=self.namespace(request), name=name)
        )

    @extend_schema(
        parameters=[KINDS_PARAM, NamespaceQuery],
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
    )
    def put(
        self,
        request: Request,
        kinds: str,
        name: str,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> Response:
        user = adapter.target_user(user_id=user_id, user_name=user_name)
        document = adapter.update_user_kind(
            user=user, plural=kinds, namespace=self.namespace(request), name=name, body=request.data
        )
        return Response(document)

    @extend_schema(parameters=[KINDS_PARAM, NamespaceQuery], responses={204: None}, tags=TAGS)
    def delete(
        self,
        request: Request,
        kinds: str,
        name: str,
        user_id: int | None = None,
        user_name: str | None = None,
    ) -> Response:
        user = adapter.target_user(user_id=user_id, user_name=user_name)
        adapter.delete_user_kind(user=user, plural=kinds, namespace=self.namespace(request), name=name)
        return Response(status=204)


class UserKindBatchView(UserKindView):
    operation = "apply"

    @extend_schema(
        parameters=[NamespaceQuery, OpenApiParameter("dryRun", OpenApiTypes.BOOL, required=False)],
        request=OpenApiTypes.OBJECT,
        responses=BatchResultSerializer,
        tags=TAGS,
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = adapter.target_user(user_id=user_id)
        run = services.apply_resources if self.operation == "apply" else services.delete_resources
        result = run(
            actor=user,
            namespace=self.namespace(request),
            items=request.data,
            dry_run=DryRunQuery.read(request),
        )
        return Response(result)


class UsernameKindListView(UserKindListView):
    http_method_names = ["get", "head", "options"]

    @extend_schema(
        parameters=[KINDS_PARAM, NamespaceQuery],
        responses=OpenApiTypes.OBJECT,
        tags=TAGS,
        operation_id="admin_users_username_kinds_list",
    )
    def get(
        self, request: Request, kinds: str, user_id: int | None = None, user_name: str | None = None
    ) -> Response:
        return super().get(request, kinds, user_id=user_id, user_name=user_name)


class UsernameKindDetailView(UserKindDetailView):
    http_method_names = ["get", "head", "options"]


def _public_patterns() -> list[Any]:
    patterns = []
    for suffix, kind in adapter.PUBLIC_KINDS.items():
        patterns += [
            path(
                f"admin/public-{suffix}",
                PublicResourceListView.as_view(kind=kind),
                name=f"admin-public-{suffix}",
            ),
            path(
                f"admin/public-{suffix}/<int:row_id>",
                PublicResourceDetailView.as_view(kind=kind),
                name=f"admin-public-{suffix}-detail",
            ),
        ]
    return patterns


USER = "admin/users/<int:user_id>/kinds"
USERNAME = "admin/users/username/<str:user_name>/kinds"

urlpatterns = [
    *_public_patterns(),
    # Batch routes first: "batch/apply" would otherwise read as kinds="batch", name="apply".
    path(f"{USER}/batch/apply", UserKindBatchView.as_view(operation="apply"), name="admin-user-kinds-apply"),
    path(
        f"{USER}/batch/delete", UserKindBatchView.as_view(operation="delete"), name="admin-user-kinds-delete"
    ),
    path(f"{USER}/<str:kinds>", UserKindListView.as_view(), name="admin-user-kinds"),
    path(f"{USER}/<str:kinds>/<str:name>", UserKindDetailView.as_view(), name="admin-user-kind-detail"),
    path(f"{USERNAME}/<str:kinds>", UsernameKindListView.as_view(), name="admin-username-kinds"),
    path(
        f"{USERNAME}/<str:kinds>/<str:name>",
        UsernameKindDetailView.as_view(),
        name="admin-username-kind-detail",
    ),
]
