"""``/api/v1/responses``: the OpenAI Responses API over a Team (reference realtime §6).

The views are DRF views (auth, throttles, errors as everywhere); what they stream is an async
iterator the ASGI handler sends from the server loop, so no request thread waits on a model.
The iterator starts the answer on that loop (``runner.start``) with a ``Feed`` watching it, then
sends the feed's events (``stream=true``), the final object (blocking mode, once the answer
ends) or the object at once (``background=true``; the answer goes on without the client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from chat import response_feed
from chat import responses_protocol as rp
from chat.response_feed import Feed, sse
from chat.services import responses
from chat.streams import EarlyStart, runner
from wegent.api.validation import validate_query
from wegent.realtime import emitter

TAGS = ["responses"]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# --- rate limits (per API key, or per user for a JWT) ---------------------------------------------


class _ResponsesThrottle(SimpleRateThrottle):
    """``RESPONSES_RATE_LIMITS[scope]`` requests per key; read per request (settings-driven)."""

    scope = ""

    def get_rate(self) -> str | None:
        return settings.RESPONSES_RATE_LIMITS.get(self.scope) or None

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        api_key = getattr(request.auth, "api_key", None)
        ident = f"key{api_key.pk}" if api_key is not None else f"user{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CreateThrottle(_ResponsesThrottle):
    scope = "responses_create"


class GetThrottle(_ResponsesThrottle):
    scope = "responses_get"


class CancelThrottle(_ResponsesThrottle):
    scope = "responses_cancel"


class DeleteThrottle(_ResponsesThrottle):
    scope = "responses_delete"


# --- OpenAPI shapes (the body is parsed by ``responses_protocol.parse_create``) --------------------


class ResponseCreateSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="namespace#team_name or namespace#team_name#model_id")
    input = serializers.JSONField(help_text="a string, or a list of {type, role, content} messages")
    previous_response_id = serializers.CharField(required=False, allow_null=True)
    stream = serializers.BooleanField(required=False, default=False)
    background = serializers.BooleanField(required=False, default=False)
    tools = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)


class ResponseObjectSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created_at = serializers.IntegerField()
    status = serializers.CharField()
    background = serializers.BooleanField()
    error = serializers.DictField(allow_null=True)
    incomplete_details = serializers.DictField(allow_null=True)
    model = serializers.CharField()
    output = serializers.ListField(child=serializers.DictField())
    previous_response_id = serializers.CharField(allow_null=True)
    usage = serializers.DictField(allow_null=True)


class DeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    deleted = serializers.BooleanField()


class ReplayQuerySerializer(serializers.Serializer):
    stream = serializers.BooleanField(required=False, default=False)
    starting_after = serializers.IntegerField(required=False, min_value=-1, default=-1)


# JSON, or with stream=true the Responses events as ``data:`` lines.
STREAMING_RESPONSES = {
    (200, "application/json"): ResponseObjectSerializer,
    (200, "text/event-stream"): OpenApiResponse(
        OpenApiTypes.STR, description="with stream=true: Responses events, one `data: <json>` line each"
    ),
}


# --- the iterators the server loop sends ---------------------------------------------------------------


def _open_early(planned: responses.Plan) -> EarlyStart | None:
    """Opens the model stream of a new conversation before its turn is stored (as ``chat:send``
    does): its first tokens are on their way meanwhile. On the server loop, from this thread."""
    setup = planned.early_setup
    if setup is None or not emitter.has_server_loop():
        return None
    return async_to_sync(runner.start_early)(setup.model, setup.system_prompt, planned.first_messages)


def _discard(early: EarlyStart | None) -> None:
    if early is not None:
        async_to_sync(early.discard)()


def _start(created: responses.Created, early: EarlyStart | None) -> Feed:
    """On the server loop: the feed watches the answer, then the runner starts it."""
    answer = created.answer
    assert answer is not None
    emitter.remember_loop()  # the REST cancel reaches streams of this loop from its thread
    feed = Feed(
        task_id=created.task.pk,
        subtask_id=answer.subtask_id,
        created_at=created.created_at,
        model=created.model,
        previous_response_id=created.previous_response_id,
        background=created.background,
    )
    response_feed.register(feed)
    runner.observe(answer.subtask_id, feed)
    runner.start(answer, early)
    return feed


async def _start_soon(created: responses.Created, early: EarlyStart | None) -> Feed:
    return _start(created, early)


def _started(created: responses.Created, early: EarlyStart | None) -> Feed | None:
    """Starts the answer on the server loop before the response goes out (a client gone before
    its body is read must not leave the answer unstarted); None without a known server loop
    (the body's iterator starts it then)."""
    if not emitter.has_server_loop():
        return None
    return async_to_sync(_start_soon)(created, early)


async def _stream_events(
    created: responses.Created, early: EarlyStart | None, started: Feed | None
) -> AsyncIterator[bytes]:
    feed = started or _start(created, early)
    async for frames in feed.batches():
        yield frames


async def _final_object(
    created: responses.Created, early: EarlyStart | None, started: Feed | None
) -> AsyncIterator[bytes]:
    feed = started or _start(created, early)
    yield orjson.dumps(await feed.wait())


async def _background_object(
    created: responses.Created, early: EarlyStart | None, started: Feed | None
) -> AsyncIterator[bytes]:
    feed = started or _start(created, early)
    yield orjson.dumps(feed.opening)


async def _replay(
    task_id: int, subtask_id: int, after: int, remote: bool, stored: list[bytes]
) -> AsyncIterator[bytes]:
    """The events after ``after``: from this process's log, else the Redis log, else rebuilt
    from the stored answer (``stored``)."""
    feed = response_feed.local(task_id, subtask_id)
    if feed is not None:
        async for frames in feed.batches(after):
            yield frames
        return
    if remote:
        async for item in response_feed.remote_events(task_id, after):
            yield sse(item)
        return
    yield b"".join(stored[after + 1 :])


def _sse_response(iterator: AsyncIterator[bytes]) -> StreamingHttpResponse:
    return StreamingHttpResponse(iterator, content_type="text/event-stream", headers=SSE_HEADERS)


# --- views ---------------------------------------------------------------------------------------------


class ResponsesView(APIView):
    throttle_classes = [CreateThrottle]

    @extend_schema(
        request=ResponseCreateSerializer,
        responses=STREAMING_RESPONSES,
        tags=TAGS,
        operation_id="responses_create",
    )
    def post(self, request: Request) -> Any:
        key_name = getattr(request.auth, "api_key_name", None)
        planned = responses.plan(request.user, request.data, api_key_name=key_name)
        early = _open_early(planned)
        try:
            created = responses.store(request.user, planned)
        except BaseException:
            _discard(early)
            raise
        if created.answer is None:
            _discard(early)
            return Response(created.response)
        started = _started(created, early)
        if created.stream:
            return _sse_response(_stream_events(created, early, started))
        make = _background_object if created.background else _final_object
        return StreamingHttpResponse(make(created, early, started), content_type="application/json")


class ResponseView(APIView):
    def get_throttles(self) -> list[Any]:
        return [DeleteThrottle()] if self.request.method == "DELETE" else [GetThrottle()]

    @extend_schema(
        parameters=[
            OpenApiParameter("stream", OpenApiTypes.BOOL, description="replay the events as SSE"),
            OpenApiParameter("starting_after", OpenApiTypes.INT, description="the last sequence number seen"),
        ],
        responses=STREAMING_RESPONSES,
        tags=TAGS,
        operation_id="responses_retrieve",
    )
    def get(self, request: Request, response_id: str) -> Any:
        query = validate_query(ReplayQuerySerializer, request)
        if not query["stream"]:
            return Response(responses.retrieve(request.user, response_id))
        task = responses.owned_task(request.user, response_id)
        current = responses.retrieve(request.user, response_id)
        output = current["output"]
        if not output:
            return _sse_response(_replay(task.pk, 0, query["starting_after"], False, []))
        subtask_id = int(output[0]["id"].removeprefix(rp.MESSAGE_PREFIX))
        # Another worker's log; an answer of this API still running has one (its first entry
        # may be on its way), others (a Socket.IO chat) are rebuilt from what is stored.
        api_answer = task.labels.get("is_api_call") == "true" and current["status"] == "in_progress"
        remote = response_feed.local(task.pk, subtask_id) is None and (
            response_feed.has_remote_log(task.pk) or (api_answer and bool(settings.REDIS_URL))
        )
        ending = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}.get(
            current["status"]
        )
        stored = response_feed.snapshot(
            task_id=task.pk,
            subtask_id=subtask_id,
            created_at=current["created_at"],
            model=current["model"],
            previous_response_id=current["previous_response_id"],
            text=output[0]["content"][0]["text"] if output[0]["content"] else "",
            ending=ending,
            error=(current["error"] or {}).get("message"),
        )
        return _sse_response(_replay(task.pk, subtask_id, query["starting_after"], remote, stored))

    @extend_schema(responses={200: DeletedSerializer}, tags=TAGS, operation_id="responses_delete")
    def delete(self, request: Request, response_id: str) -> Response:
        result = responses.delete(request.user, response_id)
        task_id = rp.task_id_of(response_id)
        if task_id is not None:
            response_feed.forget(task_id)
        return Response(result)


class ResponseCancelView(APIView):
    throttle_classes = [CancelThrottle]

    @extend_schema(request=None, responses={200: ResponseObjectSerializer}, tags=TAGS)
    def post(self, request: Request, response_id: str) -> Response:
        return Response(responses.cancel(request.user, response_id))


urlpatterns = [
    path("v1/responses", ResponsesView.as_view(), name="responses"),
    path("v1/responses/<str:response_id>", ResponseView.as_view(), name="response"),
    path("v1/responses/<str:response_id>/cancel", ResponseCancelView.as_view(), name="response-cancel"),
]
