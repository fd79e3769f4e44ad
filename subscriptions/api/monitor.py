"""``/api/admin/subscription-monitor/stats|errors``: the operators' view of runs (admins only)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from subscriptions import shapes, statuses
from subscriptions.api.serializers import ExecutionListOut
from subscriptions.models import BackgroundExecution, Subscription
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.permissions import IsSystemAdmin
from wegent.api.validation import validate_query

TAGS = ["admin"]


class WindowQuery(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=24 * 30, default=24)


class StatsOut(serializers.Serializer):
    hours = serializers.IntegerField()
    total_subscriptions = serializers.IntegerField()
    enabled_subscriptions = serializers.IntegerField()
    scheduled_subscriptions = serializers.IntegerField()
    executions = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    success_rate = serializers.FloatField(allow_null=True)


class StatsView(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(tags=TAGS, parameters=[WindowQuery], responses=StatsOut)
    def get(self, request: Request) -> Response:
        hours = validate_query(WindowQuery, request)["hours"]
        since = timezone.now() - timedelta(hours=hours)
        live = Subscription.objects.filter(is_active=True)
        counts = dict(
            BackgroundExecution.objects.filter(created_at__gte=since)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        by_status = {status: counts.get(status, 0) for status in statuses.ALL}
        ended = by_status[statuses.COMPLETED] + by_status[statuses.FAILED]
        return Response(
            {
                "hours": hours,
                "total_subscriptions": live.count(),
                "enabled_subscriptions": live.filter(enabled=True).count(),
                "scheduled_subscriptions": live.filter(periodic_task__isnull=False).count(),
                "executions": sum(by_status.values()),
                "by_status": by_status,
                "success_rate": by_status[statuses.COMPLETED] / ended if ended else None,
            }
        )


class ErrorsView(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(tags=TAGS, parameters=[WindowQuery], responses=ExecutionListOut)
    def get(self, request: Request) -> Response:
        hours = validate_query(WindowQuery, request)["hours"]
        page = page_params(request, default_limit=50, max_limit=100)
        rows = BackgroundExecution.objects.filter(
            status=statuses.FAILED, updated_at__gte=timezone.now() - timedelta(hours=hours)
        ).select_related("subscription")
        items, total = paginate(rows.order_by("-updated_at", "-id"), page)
        return Response(envelope([shapes.execution(row) for row in items], total))


urlpatterns = [
    path("admin/subscription-monitor/stats", StatsView.as_view(), name="subscription-monitor-stats"),
    path("admin/subscription-monitor/errors", ErrorsView.as_view(), name="subscription-monitor-errors"),
]
