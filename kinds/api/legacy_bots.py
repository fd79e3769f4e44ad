"""``/api/bots``: the flat bot of the reference over Bot + Ghost (+ Model) Kind rows."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds import shapes
from kinds.adapters import bots as adapter
from kinds.api.legacy_shapes import (
    FORCE_PARAMETER,
    BotCreateSerializer,
    BotDetailSerializer,
    BotInDBSerializer,
    BotListSerializer,
    BotUpdateSerializer,
    ForceQuery,
    LegacyMessageSerializer,
    LegacyScopeQuery,
    RunningTasksSerializer,
    list_parameters,
    owner_in_db,
)
from kinds.models import Kind
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["bots"]
LIST_PARAMETERS = list_parameters("personal")
FORCE = FORCE_PARAMETER


def _flat(row: Kind) -> dict[str, Any]:
    return shapes.flat_bots([row])[0]


class BotListView(APIView):
    @extend_schema(
        parameters=LIST_PARAMETERS, responses=BotListSerializer, tags=TAGS, operation_id="bots_list"
    )
    def get(self, request: Request) -> Response:
        page = page_params(request)
        query = validate_query(LegacyScopeQuery, request)
        rows = adapter.bot_rows(
            actor=request.user, scope=query.get("scope") or "personal", group_name=query.get("group_name")
        )
        items, total = paginate(rows, page)
        return Response(envelope(shapes.flat_bots(items), total))

    @extend_schema(request=BotCreateSerializer, responses={201: BotInDBSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(BotCreateSerializer, request)
        data.pop("is_active", None)
        row = adapter.create_bot(actor=request.user, **data)
        return Response(_flat(row), status=201)


class BotDetailView(APIView):
    @extend_schema(responses=BotDetailSerializer, tags=TAGS)
    def get(self, request: Request, bot_id: int) -> Response:
        row = adapter.visible_bot(actor=request.user, bot_id=bot_id)
        return Response({**_flat(row), "user": owner_in_db(row.owner, request.user)})

    @extend_schema(request=BotUpdateSerializer, responses=BotInDBSerializer, tags=TAGS)
    def put(self, request: Request, bot_id: int) -> Response:
        changes = validate_body(BotUpdateSerializer, request)
        changes.pop("is_active", None)
        row = adapter.update_bot(actor=request.user, bot_id=bot_id, changes=changes)
        return Response(_flat(row))

    @extend_schema(parameters=[FORCE], responses=LegacyMessageSerializer, tags=TAGS)
    def delete(self, request: Request, bot_id: int) -> Response:
        force = validate_query(ForceQuery, request)["force"]
        adapter.delete_bot(actor=request.user, bot_id=bot_id, force=force)
        return Response({"message": "Bot deleted successfully"})


class BotRunningTasksView(APIView):
    @extend_schema(responses=RunningTasksSerializer, tags=TAGS, operation_id="bots_running_tasks")
    def get(self, request: Request, bot_id: int) -> Response:
        return Response(adapter.running_tasks(actor=request.user, bot_id=bot_id))


urlpatterns = [
    path("bots", BotListView.as_view(), name="bots"),
    path("bots/<int:bot_id>", BotDetailView.as_view(), name="bot-detail"),
    path("bots/<int:bot_id>/running-tasks", BotRunningTasksView.as_view(), name="bot-running-tasks"),
]
