"""``/api/quota``: the caller's quotas and what they have used."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from quotas import services, shapes

TAGS = ["quota"]


class QuotaFigureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=["user", "group", "every_user"])
    group = serializers.CharField(allow_null=True)
    period = serializers.ChoiceField(choices=["day", "month"])
    max_requests = serializers.IntegerField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    used_requests = serializers.IntegerField()
    used_tokens = serializers.IntegerField()
    reset_at = serializers.DateTimeField()
    exceeded = serializers.BooleanField()


class QuotaMineSerializer(serializers.Serializer):
    quotas = QuotaFigureSerializer(many=True)


class FrontendQuotaView(APIView):
    """``GET /api/quota/claude/quota``: the frontend's quota badge (``{}`` with no quota)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, tags=TAGS)
    def get(self, request: Request) -> Response:
        figures = services.status(request.user.pk)
        return Response(shapes.frontend_quota(request.user.user_name, figures))


class MyQuotasView(APIView):
    """``GET /api/quota/me``: every quota that applies to the caller, with its usage."""

    @extend_schema(responses=QuotaMineSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(shapes.my_quotas(services.status(request.user.pk)))


class OtherQuotaView(APIView):
    """Any other ``GET /api/quota/{path}``: ``{}``, as the reference's open-source stub."""

    @extend_schema(responses=OpenApiTypes.OBJECT, tags=TAGS)
    def get(self, request: Request, path: str) -> Response:
        return Response({})
