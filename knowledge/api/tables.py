"""``GET /api/tables``: the table documents (knowledge documents of ``source_type`` table, e.g.
DingTalk AI tables) the caller can reach, as ``{total, items}`` (reference extras §4 "Tables").

Knowledge bases and their documents are not built yet, so no table document exists and the
list is empty; the web frontend calls this on every page and needs the well-formed envelope.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from wegent.api.pagination import envelope


class TableDocumentSerializer(serializers.Serializer):
    """The reference's knowledge document fields, as a table document will be shown."""

    id = serializers.IntegerField()
    kind_id = serializers.IntegerField()
    attachment_id = serializers.IntegerField()
    name = serializers.CharField()
    file_extension = serializers.CharField()
    file_size = serializers.IntegerField()
    status = serializers.ChoiceField(["enabled", "disabled"])
    user_id = serializers.IntegerField()
    is_active = serializers.BooleanField()
    splitter_config = serializers.DictField(allow_null=True)
    source_type = serializers.CharField()
    source_config = serializers.DictField()
    doc_ref = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TableDocumentListSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    items = TableDocumentSerializer(many=True)


class TableListView(APIView):
    @extend_schema(responses=TableDocumentListSerializer, tags=["tables"], operation_id="tables_list")
    def get(self, request: Request) -> Response:
        return Response(envelope([], 0))


urlpatterns = [path("tables", TableListView.as_view(), name="tables")]
