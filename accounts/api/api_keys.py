"""``/api/api-keys``: the caller's personal API keys."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.roles import KeyType
from accounts.services import api_keys
from wegent.api.validation import validate_body


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "key_prefix",
            "description",
            "expires_at",
            "last_used_at",
            "created_at",
            "is_active",
        ]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True)

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


def key_created_body(api_key: ApiKey, raw: str) -> dict:
    body = dict(ApiKeySerializer(api_key).data)
    body["key"] = raw
    return body


class ApiKeyListView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ApiKeyList", {"items": ApiKeySerializer(many=True), "total": serializers.IntegerField()}
        ),
        tags=["api-keys"],
    )
    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(user=request.user, key_type=KeyType.PERSONAL)
        items = ApiKeySerializer(api_keys.with_recent_use(keys), many=True).data
        return Response({"items": items, "total": len(items)})

    @extend_schema(
        request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer}, tags=["api-keys"]
    )
    def post(self, request: Request) -> Response:
        data = validate_body(ApiKeyCreateSerializer, request)
        api_key, raw = api_keys.create_key(
            owner=request.user, name=data["name"], description=data["description"]
        )
        return Response(key_created_body(api_key, raw), status=201)


class ApiKeyToggleView(APIView):
    @extend_schema(request=None, responses=ApiKeySerializer, tags=["api-keys"])
    def post(self, request: Request, key_id: int) -> Response:
        api_key = api_keys.toggle_key(
            actor=request.user, key_id=key_id, key_type=KeyType.PERSONAL, own_only=True
        )
        (api_key,) = api_keys.with_recent_use([api_key])
        return Response(ApiKeySerializer(api_key).data)


class ApiKeyDetailView(APIView):
    @extend_schema(responses={204: None}, tags=["api-keys"])
    def delete(self, request: Request, key_id: int) -> Response:
        api_keys.delete_key(actor=request.user, key_id=key_id, key_type=KeyType.PERSONAL, own_only=True)
        return Response(status=204)


urlpatterns = [
    path("api-keys", ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/toggle-status", ApiKeyToggleView.as_view(), name="api-key-toggle"),
    path("api-keys/<int:key_id>", ApiKeyDetailView.as_view(), name="api-key-detail"),
]
