"""``GET /api/v1/knowledge-base/qa-history``: the questions asked with a knowledge base and their
answers (reference extras §1.3): the ``knowledge_base`` contexts of messages in a time range
(at most 30 days), with the retrieved text, the answer and the knowledge base's settings.
Non-admins always see their own; admins may name ``user_id``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import selectors
from wegent.api.validation import validate_query

MAX_RANGE = timedelta(days=30)


class HistoryQuery(serializers.Serializer):
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    user_id = serializers.IntegerField(min_value=1, required=False)
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end_time"] < attrs["start_time"]:
            raise serializers.ValidationError({"end_time": "end_time must not be before start_time"})
        if attrs["end_time"] - attrs["start_time"] > MAX_RANGE:
            raise serializers.ValidationError({"end_time": "The time range must not exceed 30 days"})
        return attrs


class HistoryOut(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField())
    pagination = serializers.DictField()


class QAHistoryView(APIView):
    @extend_schema(
        parameters=[HistoryQuery], responses=HistoryOut, tags=["knowledge"], operation_id="kb_qa_history"
    )
    def get(self, request: Request) -> Response:
        query = validate_query(HistoryQuery, request)
        user_id = query.get("user_id") if request.user.is_admin else None
        page, size = query["page"], query["page_size"]
        items, total = selectors.qa_history(
            user_id=user_id or request.user.pk,
            start=query["start_time"],
            end=query["end_time"],
            offset=(page - 1) * size,
            limit=size,
        )
        pages = (total + size - 1) // size
        return Response(
            {
                "items": items,
                "pagination": {"page": page, "page_size": size, "total": total, "total_pages": pages},
            }
        )


urlpatterns = [path("v1/knowledge-base/qa-history", QAHistoryView.as_view(), name="kb-qa-history")]
