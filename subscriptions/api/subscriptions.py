"""``/api/subscriptions``: CRUD, toggle, trigger, and the executions timeline (reference extras
§2.3). Static paths (``executions``, ``webhook``) are their own routes; ``{id}`` routes take
integers only, so they never shadow them."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from subscriptions import selectors, shapes, tasks
from subscriptions.api import serializers as s
from subscriptions.api.follows import FollowActions
from subscriptions.services import executions
from subscriptions.services import subscriptions as service
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.validation import validate_body, validate_query

TAGS = ["subscriptions"]
NOT_FOUND = OpenApiResponse(description='"Subscription not found"')
EXECUTION_NOT_FOUND = OpenApiResponse(description='"Execution not found"')
STALE_LIMIT = 50


@extend_schema_view(
    list=extend_schema(
        parameters=[s.SubscriptionListQuery, OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses=s.SubscriptionListOut,
    ),
    create=extend_schema(request=s.SubscriptionCreateSerializer, responses={201: s.SubscriptionOut}),
    retrieve=extend_schema(responses={200: s.SubscriptionOut, 404: NOT_FOUND}),
    update=extend_schema(
        request=s.SubscriptionUpdateSerializer, responses={200: s.SubscriptionOut, 404: NOT_FOUND}
    ),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND}),
)
@extend_schema(tags=TAGS)
class SubscriptionViewSet(FollowActions, viewsets.ViewSet):
    lookup_field = "subscription_id"
    lookup_value_converter = "int"

    def list(self, request: Request) -> Response:
        query = validate_query(s.SubscriptionListQuery, request)
        page = page_params(request, default_limit=20, max_limit=100)
        rows = selectors.own_list(
            request.user, enabled=query["enabled"], trigger_type=query.get("trigger_type")
        )
        items, total = paginate(rows, page)
        return Response(envelope([shapes.subscription(row) for row in items], total))

    def create(self, request: Request) -> Response:
        data = validate_body(s.SubscriptionCreateSerializer, request)
        row = service.create(actor=request.user, data=service.SubscriptionInput.of(data))
        return Response(shapes.subscription(selectors.owned_subscription(request.user, row.pk)), status=201)

    def retrieve(self, request: Request, subscription_id: int) -> Response:
        return Response(shapes.subscription(selectors.owned_subscription(request.user, subscription_id)))

    def update(self, request: Request, subscription_id: int) -> Response:
        data = validate_body(s.SubscriptionUpdateSerializer, request)
        service.update(
            actor=request.user, subscription_id=subscription_id, data=service.SubscriptionInput.of(data)
        )
        return Response(shapes.subscription(selectors.owned_subscription(request.user, subscription_id)))

    def destroy(self, request: Request, subscription_id: int) -> Response:
        service.delete(actor=request.user, subscription_id=subscription_id)
        return Response(status=204)

    @extend_schema(
        parameters=[s.ToggleQuery], request=None, responses={200: s.SubscriptionOut, 404: NOT_FOUND}
    )
    @action(detail=True, methods=["post"], url_path="toggle", url_name="toggle")
    def toggle(self, request: Request, subscription_id: int) -> Response:
        enabled = validate_query(s.ToggleQuery, request)["enabled"]
        service.toggle(actor=request.user, subscription_id=subscription_id, enabled=enabled)
        return Response(shapes.subscription(selectors.owned_subscription(request.user, subscription_id)))

    @extend_schema(request=None, responses={200: s.ExecutionOut, 404: NOT_FOUND})
    @action(detail=True, methods=["post"], url_path="trigger", url_name="trigger")
    def trigger(self, request: Request, subscription_id: int) -> Response:
        execution = executions.manual_trigger(actor=request.user, subscription_id=subscription_id)
        tasks.dispatch(execution.pk)
        execution.refresh_from_db()
        return Response(shapes.execution(execution, actor_id=request.user.pk))


@extend_schema(tags=TAGS)
class ExecutionViewSet(viewsets.ViewSet):
    lookup_field = "execution_id"
    lookup_value_converter = "int"

    @extend_schema(
        parameters=[s.ExecutionListQuery, OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses=s.ExecutionListOut,
    )
    def list(self, request: Request) -> Response:
        query = validate_query(s.ExecutionListQuery, request)
        page = page_params(request, default_limit=50, max_limit=100)
        rows = selectors.timeline(
            request.user,
            subscription_id=query.get("subscription_id"),
            status=query.get("status"),
            start_date=query.get("start_date"),
            end_date=query.get("end_date"),
            include_silent=query["include_silent"],
        )
        items, total = paginate(rows, page)
        return Response(envelope([shapes.execution(row, actor_id=request.user.pk) for row in items], total))

    @extend_schema(parameters=[s.StaleQuery], responses=s.ExecutionOut(many=True))
    @action(detail=False, methods=["get"], url_path="stale", url_name="stale")
    def stale(self, request: Request) -> Response:
        query = validate_query(s.StaleQuery, request)
        older_than = timezone.now() - timedelta(hours=query["hours"])
        rows = selectors.stale(request.user, status=query["status"], older_than=older_than)[:STALE_LIMIT]
        return Response([shapes.execution(row, actor_id=request.user.pk) for row in rows])

    @extend_schema(responses={200: s.ExecutionOut, 404: EXECUTION_NOT_FOUND})
    def retrieve(self, request: Request, execution_id: int) -> Response:
        row = selectors.readable_execution(request.user, execution_id)
        return Response(shapes.execution(row, actor_id=request.user.pk))

    @extend_schema(
        responses={204: None, 400: OpenApiResponse(description="not finished"), 404: EXECUTION_NOT_FOUND}
    )
    def destroy(self, request: Request, execution_id: int) -> Response:
        executions.delete(actor=request.user, execution_id=execution_id)
        return Response(status=204)

    @extend_schema(request=None, responses={200: s.ExecutionOut, 404: EXECUTION_NOT_FOUND})
    @action(detail=True, methods=["post"], url_path="cancel", url_name="cancel")
    def cancel(self, request: Request, execution_id: int) -> Response:
        row = executions.cancel(actor=request.user, execution_id=execution_id)
        return Response(shapes.execution(row, actor_id=request.user.pk))


router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("subscriptions/executions", ExecutionViewSet, basename="subscription-execution")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
urlpatterns = router.urls
