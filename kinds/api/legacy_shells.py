"""``/api/shells`` (unified shells, custom shells) and ``/api/agents`` (legacy public shells).

Image validation (``/shells/validate-image``, ``/shells/validation-status``) needs an executor
manager and is not served here.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.adapters import shells as adapter
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["shells"]


class UnifiedShellsQuery(serializers.Serializer):
    scope = serializers.CharField(default="personal", max_length=20)
    group_name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class UnifiedShellQuery(serializers.Serializer):
    shell_type = serializers.CharField(required=False, allow_blank=True, max_length=20)


class GroupQuery(serializers.Serializer):
    group_name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class UnifiedShellSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="public, user or group")
    displayName = serializers.CharField()
    shellType = serializers.CharField()
    baseImage = serializers.CharField(allow_null=True)
    baseShellRef = serializers.CharField(allow_null=True)
    supportModel = serializers.ListField(child=serializers.CharField(), allow_null=True)
    executionType = serializers.CharField(allow_null=True)
    namespace = serializers.CharField()
    requiresWorkspace = serializers.BooleanField(allow_null=True)


UnifiedShellListSerializer = inline_serializer(
    "UnifiedShellList", {"data": UnifiedShellSerializer(many=True)}
)


class ShellCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    displayName = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    baseShellRef = serializers.CharField(max_length=100)
    baseImage = serializers.CharField(max_length=500)


class ShellUpdateSerializer(serializers.Serializer):
    displayName = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    baseImage = serializers.CharField(required=False, allow_null=True, max_length=500)


ShellMessageSerializer = inline_serializer("ShellMessage", {"message": serializers.CharField()})


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    config = serializers.JSONField(help_text='{"mode_filter": [providers]} (the shell\'s supportModel)')
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


AgentListSerializer = inline_serializer(
    "AgentList", {"total": serializers.IntegerField(), "items": AgentSerializer(many=True)}
)


class AgentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    config = serializers.DictField(required=False, allow_null=True)


class AgentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_null=True)
    config = serializers.DictField(required=False, allow_null=True)


AgentMessageSerializer = inline_serializer("AgentMessage", {"message": serializers.CharField()})

PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description="Page size (max 100)"),
]


# --- shells ------------------------------------------------------------------------------------


class UnifiedShellListView(APIView):
    @extend_schema(
        parameters=[UnifiedShellsQuery],
        responses=UnifiedShellListSerializer,
        tags=TAGS,
        operation_id="shells_unified_list",
    )
    def get(self, request: Request) -> Response:
        query = validate_query(UnifiedShellsQuery, request)
        data = adapter.list_unified_shells(
            actor=request.user, scope=query["scope"], group_name=query.get("group_name") or None
        )
        return Response({"data": data})


class UnifiedShellDetailView(APIView):
    @extend_schema(parameters=[UnifiedShellQuery], responses=UnifiedShellSerializer, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        query = validate_query(UnifiedShellQuery, request)
        shell = adapter.get_unified_shell(actor=request.user, name=name, shell_type=query.get("shell_type"))
        return Response(shell)


class ShellListView(APIView):
    @extend_schema(
        parameters=[GroupQuery],
        request=ShellCreateSerializer,
        responses={201: UnifiedShellSerializer},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        query = validate_query(GroupQuery, request)
        data = validate_body(ShellCreateSerializer, request)
        row = adapter.create_shell(
            actor=request.user,
            name=data["name"],
            display_name=data.get("displayName") or None,
            base_shell_ref=data["baseShellRef"],
            base_image=data["baseImage"],
            group_name=query.get("group_name") or None,
        )
        return Response(adapter.unified_shell(row), status=201)


class ShellDetailView(APIView):
    @extend_schema(request=ShellUpdateSerializer, responses=UnifiedShellSerializer, tags=TAGS)
    def put(self, request: Request, name: str) -> Response:
        data = validate_body(ShellUpdateSerializer, request)
        row = adapter.update_shell(
            actor=request.user,
            name=name,
            display_name=data.get("displayName"),
            base_image=data.get("baseImage"),
        )
        return Response(adapter.unified_shell(row))

    @extend_schema(responses=ShellMessageSerializer, tags=TAGS)
    def delete(self, request: Request, name: str) -> Response:
        adapter.delete_shell(actor=request.user, name=name)
        return Response({"message": "Shell deleted successfully"})


# --- agents ------------------------------------------------------------------------------------


class AgentListView(APIView):
    @extend_schema(
        parameters=PAGE_PARAMS, responses=AgentListSerializer, tags=["agents"], operation_id="agents_list"
    )
    def get(self, request: Request) -> Response:
        rows, total = paginate(adapter.agents(), page_params(request))
        return Response(envelope([adapter.agent_item(row) for row in rows], total))

    @extend_schema(
        request=AgentCreateSerializer,
        responses={201: AgentSerializer},
        tags=["agents"],
        description="Creates a public shell; system admins only.",
    )
    def post(self, request: Request) -> Response:
        data = validate_body(AgentCreateSerializer, request)
        row = adapter.create_agent(actor=request.user, name=data["name"], config=data.get("config"))
        return Response(adapter.agent_item(row), status=201)


class AgentDetailView(APIView):
    @extend_schema(responses=AgentSerializer, tags=["agents"])
    def get(self, request: Request, agent_id: int) -> Response:
        return Response(adapter.agent_item(adapter.get_agent(agent_id)))

    @extend_schema(request=AgentUpdateSerializer, responses=AgentSerializer, tags=["agents"])
    def put(self, request: Request, agent_id: int) -> Response:
        data = validate_body(AgentUpdateSerializer, request)
        row = adapter.update_agent(
            actor=request.user, agent_id=agent_id, name=data.get("name"), config=data.get("config")
        )
        return Response(adapter.agent_item(row))

    @extend_schema(responses=AgentMessageSerializer, tags=["agents"])
    def delete(self, request: Request, agent_id: int) -> Response:
        adapter.delete_agent(actor=request.user, agent_id=agent_id)
        return Response({"message": "Agent deleted successfully"})


urlpatterns = [
    path("shells/unified", UnifiedShellListView.as_view(), name="shells-unified"),
    path("shells/unified/<str:name>", UnifiedShellDetailView.as_view(), name="shells-unified-detail"),
    path("shells", ShellListView.as_view(), name="shells"),
    path("shells/<str:name>", ShellDetailView.as_view(), name="shell-detail"),
    path("agents", AgentListView.as_view(), name="agents"),
    path("agents/<int:agent_id>", AgentDetailView.as_view(), name="agent-detail"),
]
