"""``GET /api/tables``: the table documents (knowledge documents of ``source_type`` table, e.g.
DingTalk AI tables) of the knowledge bases the caller can read, as ``{total, items}`` (reference
extras §4 "Tables"). The web frontend calls this on every page.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge import selectors, shapes
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
        items = [shapes.document(doc) for doc in selectors.table_documents(request.user)]
        return Response(envelope(items, len(items)))


urlpatterns = [path("tables", TableListView.as_view(), name="tables")]
