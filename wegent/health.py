"""Liveness (``/api/health``, the reference's shape) and readiness (``/api/ready``)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from wegent import __version__
from wegent.realtime.redis_batch import UNAVAILABLE

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


def _twice(probe: Callable[[], None]) -> None:
    """Runs ``probe``, and once more if Redis could not be reached: the first try after a Redis
    restart may take a pooled connection the server dropped (redis-py discards it on the error),
    which says nothing about Redis now. Two failures in a row are an outage."""
    try:
        probe()
    except UNAVAILABLE:
        probe()


def _cache_round_trip() -> None:
    key = f"wegent:ready:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    ok = cache.get(key) == "1"
    cache.delete(key)
    if not ok:
        raise ValueError("value written was not read back")


def _check_cache() -> str | None:
    try:
        _twice(_cache_round_trip)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"cache: {exc.__class__.__name__}: {exc}"


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    """A client of its own with short timeouts: a readiness probe must answer, not hang."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


def _check_redis() -> str | None:
    """The Redis that carries Socket.IO events and stream state between processes (the hub)."""
    try:
        _twice(_redis(settings.REDIS_URL).ping)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"redis: {exc.__class__.__name__}: {exc}"


def readiness_checks() -> dict[str, str | None]:
    """Each dependency a request may need -> None when it works, else the reason. Without
    ``REDIS_URL`` the process is alone and has no Redis to check."""
    results = {"database": _check_database(), "cache": _check_cache()}
    if settings.REDIS_URL:
        results["redis"] = _check_redis()
    return results


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
        results = readiness_checks()
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
