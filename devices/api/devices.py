"""``/api/devices``: the caller's local devices with their online state, running tasks and
versions; the default device; delete (reference rest §6.15). A CRUD-shaped resource, so a
ViewSet on a router (DESIGN §3); devices register themselves over ``/local-executor``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from devices import selectors
from devices.services import registry

TAGS = ["devices"]


class DeviceRunningTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    subtask_id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.CharField()


class DeviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    device_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["online", "offline", "busy"])
    is_default = serializers.BooleanField()
    last_heartbeat = serializers.CharField(allow_null=True)
    device_type = serializers.CharField()
    connection_mode = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField(), allow_null=True)
    slot_used = serializers.IntegerField()
    slot_max = serializers.IntegerField()
    running_tasks = DeviceRunningTaskSerializer(many=True)
    executor_version = serializers.CharField(allow_null=True)
    latest_version = serializers.CharField()
    update_available = serializers.BooleanField()


class DeviceListSerializer(serializers.Serializer):
    items = DeviceSerializer(many=True)
    total = serializers.IntegerField()


class DeviceMessageSerializer(serializers.Serializer):
    message = serializers.CharField()


def device_out(info: selectors.DeviceInfo) -> dict[str, Any]:
    spec = info.row.spec
    online = info.online or {}
    version = online.get("executor_version")
    return {
        "id": info.row.pk,
        "device_id": info.device_id,
        "name": online.get("name") or spec.get("displayName") or info.device_id,
        "status": info.status,
        "is_default": bool(spec.get("isDefault")),
        "last_heartbeat": online.get("last_heartbeat"),
        "device_type": spec.get("deviceType") or "local",
        "connection_mode": spec.get("connectionMode") or "websocket",
        "capabilities": spec.get("capabilities"),
        "slot_used": len(info.running),
        "slot_max": settings.DEVICE_SLOT_MAX,
        "running_tasks": info.running,
        "executor_version": version,
        "latest_version": settings.EXECUTOR_LATEST_VERSION,
        "update_available": selectors.update_available(version),
    }


def _listing(request: Request, *, online_only: bool) -> Response:
    infos = selectors.device_infos(request.user, online_only=online_only)
    return Response({"items": [device_out(info) for info in infos], "total": len(infos)})


NOT_FOUND = OpenApiResponse(description='"Device not found"')


@extend_schema(tags=TAGS)
class DeviceViewSet(viewsets.ViewSet):
    lookup_field = "device_id"
    lookup_value_converter = "str"

    @extend_schema(responses=DeviceListSerializer)
    def list(self, request: Request) -> Response:
        return _listing(request, online_only=False)

    @extend_schema(responses=DeviceListSerializer)
    @action(detail=False, methods=["get"], url_path="online", url_name="online")
    def online(self, request: Request) -> Response:
        return _listing(request, online_only=True)

    @extend_schema(request=None, responses={200: DeviceMessageSerializer, 404: NOT_FOUND})
    @action(detail=True, methods=["put"], url_path="default", url_name="default")
    def default(self, request: Request, device_id: str) -> Response:
        registry.set_default(request.user, device_id)
        return Response({"message": "Default device set successfully"})

    @extend_schema(responses={200: DeviceMessageSerializer, 404: NOT_FOUND})
    def destroy(self, request: Request, device_id: str) -> Response:
        registry.delete(request.user, device_id)
        return Response({"message": "Device deleted successfully"})


router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("devices", DeviceViewSet, basename="device")
urlpatterns = router.urls
