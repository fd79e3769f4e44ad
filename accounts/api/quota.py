"""``/api/quota/{path}``: the caller's usage quotas. The reference ships an open-source stub that
answers ``{}`` to any GET (meant to be replaced by an internal quota service); the web frontend
calls ``/api/quota/claude/quota`` on every page and needs only a well-formed answer. Quotas are
per user, so the route sits with the users until there are quotas to report.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class QuotaView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["quota"], operation_id="quota_read")
    def get(self, request: Request, path: str) -> Response:
        return Response({})


urlpatterns = [path("quota/<path:path>", QuotaView.as_view(), name="quota")]
