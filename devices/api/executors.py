"""``/api/executors/*``: the routes Wegent's executor manager calls (reference realtime §5.2).

The reference leaves them open, which lets anyone claim a task and read its user's token; here
they need the service token ``WEGENT_EXECUTOR_TOKEN``, sent as ``Authorization: Bearer <token>``
or in the ``X-Executor-Token`` header.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from devices import protocol
from devices.services import executors
from tasks import statuses
from wegent import telemetry
from wegent.api.validation import validate_body, validate_query
from wegent.errors import DomainError
from wegent.realtime import emitter

TAGS = ["executors"]
MAX_LIMIT = 100


class ExecutorService:
    """The caller once it showed the service token (no user: it acts for the tasks' owners)."""

    is_authenticated = True
    pk = None


class ExecutorTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ExecutorService, str]:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        presented = request.headers.get("X-Executor-Token") or (
            value.strip() if scheme.lower() == "bearer" else ""
        )
        try:
            executors.check_token(presented)
        except DomainError as exc:
            raise AuthenticationFailed(exc.detail) from exc
        return ExecutorService(), "executor"

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class ExecutorTokenScheme(OpenApiAuthenticationExtension):
    target_class = ExecutorTokenAuthentication
    name = ["executorBearer", "executorTokenHeader"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "WEGENT_EXECUTOR_TOKEN"},
            {"type": "apiKey", "in": "header", "name": "X-Executor-Token"},
        ]


class DispatchQuery(serializers.Serializer):
    task_status = serializers.ChoiceField(choices=list(statuses.SUBTASK_STATUSES), default=statuses.PENDING)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=1)
    task_ids = serializers.RegexField(r"^\d{1,19}(,\d{1,19}){0,99}$", required=False)
    type = serializers.ChoiceField(choices=["online", "offline"], default="online")


class UpdateQuery(serializers.Serializer):
    task_id = serializers.IntegerField(min_value=1, required=False)


class ExecutorUpdateSerializer(serializers.Serializer):
    subtask_id = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=list(statuses.SUBTASK_STATUSES))
    progress = serializers.IntegerField(min_value=0, max_value=100, default=0)
    task_title = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=256)
    subtask_title = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=256)
    executor_namespace = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100
    )
    executor_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    result = serializers.DictField(required=False, allow_null=True)
    error_message = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100_000
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        why = protocol.unstorable(list(attrs.values()))
        if why:
            raise serializers.ValidationError(why)
        return attrs


class DispatchResponse(serializers.Serializer):
    tasks = serializers.ListField(child=serializers.DictField())


class ExecutorUpdateResponse(serializers.Serializer):
    subtask_id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    message = serializers.CharField()


def _send(emits: list[Any]) -> None:
    for item in emits:
        emitter.emit_sync(item.event, item.payload, room=item.room, namespace=item.namespace)


class _ExecutorView(APIView):
    authentication_classes = [ExecutorTokenAuthentication]
    throttle_classes: list[Any] = []


@extend_schema(tags=TAGS)
class DispatchView(_ExecutorView):
    @extend_schema(
        parameters=[DispatchQuery],
        request=None,
        responses={200: DispatchResponse, 401: OpenApiResponse(description="no or wrong service token")},
    )
    def post(self, request: Request) -> Response:
        query = validate_query(DispatchQuery, request)
        ids = [int(part) for part in query["task_ids"].split(",")] if query.get("task_ids") else None
        claimed = executors.claim(
            task_status=query["task_status"], limit=query["limit"], queue=query["type"], task_ids=ids
        )
        _send(claimed.emits)
        return Response({"tasks": claimed.tasks})


@extend_schema(tags=TAGS)
class ExecutorTaskView(_ExecutorView):
    @extend_schema(
        parameters=[UpdateQuery],
        request=ExecutorUpdateSerializer,
        responses={
            200: ExecutorUpdateResponse,
            400: OpenApiResponse(description="the subtask has ended, or the move is not allowed"),
            401: OpenApiResponse(description="no or wrong service token"),
            404: OpenApiResponse(description='"Subtask not found"'),
        },
    )
    def put(self, request: Request) -> Response:
        task_id = validate_query(UpdateQuery, request).get("task_id")
        data = validate_body(ExecutorUpdateSerializer, request)
        change = executors.ExecutorUpdate(
            subtask_id=data["subtask_id"],
            status=data["status"],
            progress=data.get("progress", 0),
            task_title=data.get("task_title") or None,
            subtask_title=data.get("subtask_title") or None,
            executor_namespace=data.get("executor_namespace") or None,
            executor_name=data.get("executor_name") or None,
            result=data.get("result"),
            error_message=data.get("error_message") or None,
        )
        # Telemetry: the callback continues the trace of the chat:send that queued the answer.
        with telemetry.resumed("executor update", change.subtask_id, {"wegent.status": change.status}):
            updated = executors.update(task_id, change)
            _send(updated.emits)
        return Response(updated.body)
