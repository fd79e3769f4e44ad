"""Liveness (``/api/health``, the reference's shape) and readiness (``/api/ready``)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from wegent import __version__

logger = logging.getLogger("wegent.health")


def _user_count() -> int:
    from accounts.models import User

    return User.objects.count()


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "users_initialized": serializers.BooleanField(),
                "user_count": serializers.IntegerField(),
                "shutting_down": serializers.BooleanField(),
            },
        ),
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        try:
            count = _user_count()
        except Exception as exc:  # noqa: BLE001 - liveness reports, never raises
            logger.warning("health: database unavailable: %s", exc)
            return Response(
                {
                    "status": "unhealthy",
                    "database": "disconnected",
                    "users_initialized": False,
                    "user_count": 0,
                    "shutting_down": False,
                }
            )
        return Response(
            {
                "status": "healthy",
                "database": "connected",
                "users_initialized": count > 0,
                "user_count": count,
                "shutting_down": False,
            }
        )


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001
        return f"database: {exc.__class__.__name__}: {exc}"


def _check_cache() -> str | None:
    key = f"wegent:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 5)
        ok = cache.get(key) == "1"
        cache.delete(key)
        return None if ok else "cache: value written was not read back"
    except Exception as exc:  # noqa: BLE001
        return f"cache: {exc.__class__.__name__}: {exc}"


async def _round_trip(layer) -> bool:  # type: ignore[no-untyped-def]
    channel = await layer.new_channel("ready.")
    await layer.send(channel, {"type": "ready.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=3)
    return message.get("type") == "ready.ping"


def _check_channel_layer() -> str | None:
    layer = get_channel_layer()
    if layer is None:
        return "channel layer: not configured"
    try:
        ok = async_to_sync(_round_trip)(layer)
        return None if ok else "channel layer: message lost"
    except Exception as exc:  # noqa: BLE001
        return f"channel layer: {exc.__class__.__name__}: {exc}"


class ReadyView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Ready",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(child=serializers.CharField()),
                    "reasons": serializers.ListField(child=serializers.CharField()),
                },
            ),
            503: None,
        },
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        results = {
            "database": _check_database(),
            "cache": _check_cache(),
            "channel_layer": _check_channel_layer(),
        }
        reasons = [reason for reason in results.values() if reason]
        body = {
            "status": "ready" if not reasons else "not_ready",
            "checks": {name: ("ok" if reason is None else "fail") for name, reason in results.items()},
            "reasons": reasons,
        }
        return Response(body, status=200 if not reasons else 503)


class RootView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "Wegent",
                "version": __version__,
                "api_prefix": "/api",
                "docs_url": "/api/docs",
                "socketio_path": "/socket.io",
            }
        )
