"""``/api/subtasks``: a task's messages (reference §6.8). Rules live in ``tasks.services.messages``.

Not here: ``GET /subtasks/tasks/{task_id}/stream/subscribe`` (the SSE stream of a group chat);
clients follow streams over Socket.IO (``task:join``), which the chat app serves.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kinds.api.legacy_shapes import LegacyMessageSerializer
from tasks import selectors, statuses
from tasks.api.serializers import SubtaskInDBSerializer
from tasks.models import Subtask
from tasks.services import messages
from tasks.shapes import subtasks_in_db
from wegent.api.pagination import envelope, page_params
from wegent.api.validation import validate_body, validate_query

TAGS = ["subtasks"]
PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, default=1),
    OpenApiParameter("limit", OpenApiTypes.INT, default=10, description="1 to 100"),
]


# --- input ---------------------------------------------------------------------------------------


class _QueryBoolean(serializers.BooleanField):
    # A query string is "HTML input" to DRF, where a missing boolean means False; here a missing
    # parameter takes the field's default instead.
    default_empty_html = serializers.empty


class SubtaskListQuery(serializers.Serializer):
    task_id = serializers.IntegerField()
    from_latest = _QueryBoolean(
        default=True, help_text="page from the newest message (page 1 = the last `limit` messages)"
    )
    before_message_id = serializers.IntegerField(
        required=False, min_value=1, max_value=selectors.MAX_ID, help_text="only messages older than this"
    )


class PollQuery(serializers.Serializer):
    last_subtask_id = serializers.IntegerField(required=False, min_value=0, max_value=selectors.MAX_ID)
    since = serializers.DateTimeField(required=False, help_text="ISO-8601; only messages changed after it")


def _text(max_length: int | None = None) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, max_length=max_length
    )


class SubtaskUpdateSerializer(serializers.Serializer):
    """``SubtaskUpdate``: every key optional; null or absent leaves a field as it is."""

    title = _text(256)
    status = serializers.ChoiceField(choices=statuses.SUBTASK_STATUSES, required=False, allow_null=True)
    progress = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)
    executor_namespace = _text(100)
    executor_name = _text(100)
    message_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=messages.MAX_MESSAGE_NUMBER
    )
    parent_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=messages.MAX_MESSAGE_NUMBER
    )
    result = serializers.DictField(required=False, allow_null=True)
    error_message = _text()
    executor_deleted_at = serializers.BooleanField(required=False, allow_null=True)


class MessageEditSerializer(serializers.Serializer):
    new_content = serializers.CharField(min_length=1, trim_whitespace=False)


# --- documented responses ------------------------------------------------------------------------


class SubtaskListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = SubtaskInDBSerializer(many=True)


class MessageEditResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    subtask_id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    deleted_count = serializers.IntegerField()
    new_content = serializers.CharField()


class PolledMessageSerializer(SubtaskInDBSerializer):
    sender_username = serializers.CharField(allow_null=True)


class PollMessagesSerializer(serializers.Serializer):
    messages = PolledMessageSerializer(many=True)
    has_streaming = serializers.BooleanField()
    streaming_subtask_id = serializers.IntegerField(allow_null=True)


class StreamingStatusSerializer(serializers.Serializer):
    is_streaming = serializers.BooleanField()
    subtask_id = serializers.IntegerField(allow_null=True)
    started_by_user_id = serializers.IntegerField(allow_null=True)
    started_by_username = serializers.CharField(allow_null=True)
    current_content = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)


# --- shapes of this area -------------------------------------------------------------------------


def polled_messages(rows: list[Subtask]) -> list[dict[str, Any]]:
    """``SubtaskInDB`` plus ``sender_username`` (the poll route's extra name for the sender)."""
    return [{**item, "sender_username": item["sender_user_name"]} for item in subtasks_in_db(rows)]


def streaming_shape(state: messages.StreamingStatus) -> dict[str, Any]:
    answer, starter = state.answer, state.started_by
    return {
        "is_streaming": answer is not None,
        "subtask_id": answer.pk if answer is not None else None,
        "started_by_user_id": starter.pk if starter is not None else None,
        "started_by_username": starter.user_name if starter is not None else None,
        "current_content": state.content,
        "started_at": answer.created_at if answer is not None else None,
    }


def _one(row: Subtask) -> dict[str, Any]:
    return subtasks_in_db([row])[0]


# --- views ---------------------------------------------------------------------------------------


class SubtaskListView(APIView):
    @extend_schema(
        parameters=[SubtaskListQuery, *PAGE_PARAMETERS],
        responses=SubtaskListSerializer,
        tags=TAGS,
        operation_id="subtasks_list",
    )
    def get(self, request: Request) -> Response:
        page = page_params(request)
        query = validate_query(SubtaskListQuery, request)
        rows, total = messages.message_page(
            actor=request.user,
            task_id=query["task_id"],
            page=page.page,
            limit=page.limit,
            from_latest=query["from_latest"],
            before_message_id=query.get("before_message_id"),
        )
        return Response(envelope(subtasks_in_db(rows), total))


class SubtaskDetailView(APIView):
    @extend_schema(responses=SubtaskInDBSerializer, tags=TAGS, operation_id="subtasks_retrieve")
    def get(self, request: Request, subtask_id: int) -> Response:
        row = messages.visible_message(actor=request.user, subtask_id=subtask_id)
        return Response(_one(row))

    @extend_schema(
        request=SubtaskUpdateSerializer,
        responses=SubtaskInDBSerializer,
        tags=TAGS,
        operation_id="subtasks_update",
    )
    def put(self, request: Request, subtask_id: int) -> Response:
        data = validate_body(SubtaskUpdateSerializer, request)
        changes = messages.MessageChanges(**{key: value for key, value in data.items() if value is not None})
        row = messages.update_message(actor=request.user, subtask_id=subtask_id, changes=changes)
        return Response(_one(row))

    @extend_schema(responses=LegacyMessageSerializer, tags=TAGS, operation_id="subtasks_destroy")
    def delete(self, request: Request, subtask_id: int) -> Response:
        messages.delete_message(actor=request.user, subtask_id=subtask_id)
        return Response({"message": "Subtask deleted successfully"})


class SubtaskEditView(APIView):
    @extend_schema(
        request=MessageEditSerializer,
        responses=MessageEditResponseSerializer,
        tags=TAGS,
        operation_id="subtasks_edit",
    )
    def post(self, request: Request, subtask_id: int) -> Response:
        new_content = validate_body(MessageEditSerializer, request)["new_content"]
        done = messages.edit_message(actor=request.user, subtask_id=subtask_id, new_content=new_content)
        return Response(
            {
                "success": True,
                "subtask_id": done.subtask_id,
                "message_id": done.message_id,
                "deleted_count": done.deleted_count,
                "new_content": new_content,
            }
        )


class MessagePollView(APIView):
    @extend_schema(
        parameters=[PollQuery],
        responses=PollMessagesSerializer,
        tags=TAGS,
        operation_id="subtasks_poll_messages",
    )
    def get(self, request: Request, task_id: int) -> Response:
        query = validate_query(PollQuery, request)
        found = messages.poll(
            actor=request.user,
            task_id=task_id,
            last_subtask_id=query.get("last_subtask_id"),
            since=query.get("since"),
        )
        streaming = found.streaming
        return Response(
            {
                "messages": polled_messages(found.messages),
                "has_streaming": streaming is not None,
                "streaming_subtask_id": streaming.pk if streaming is not None else None,
            }
        )


class StreamingStatusView(APIView):
    @extend_schema(responses=StreamingStatusSerializer, tags=TAGS, operation_id="subtasks_streaming_status")
    def get(self, request: Request, task_id: int) -> Response:
        state = messages.streaming_status(actor=request.user, task_id=task_id)
        return Response(streaming_shape(state))


urlpatterns = [
    path("subtasks", SubtaskListView.as_view(), name="subtasks"),
    path("subtasks/<int:subtask_id>", SubtaskDetailView.as_view(), name="subtask-detail"),
    path("subtasks/<int:subtask_id>/edit", SubtaskEditView.as_view(), name="subtask-edit"),
    path(
        "subtasks/tasks/<int:task_id>/messages/poll",
        MessagePollView.as_view(),
        name="subtask-messages-poll",
    ),
    path(
        "subtasks/tasks/<int:task_id>/streaming-status",
        StreamingStatusView.as_view(),
        name="subtask-streaming-status",
    ),
]
