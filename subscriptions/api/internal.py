"""``POST /api/internal/subscriptions?user_id=``: a subscription made for a user by an internal
service (the reference's chat-shell ``create_subscription`` tool). Internal routes need the
service token (``WEGENT_INTERNAL_SERVICE_TOKEN``; unset: the route refuses everyone)."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from subscriptions import selectors, shapes
from subscriptions.api.serializers import SubscriptionCreateSerializer, SubscriptionOut
from subscriptions.services import subscriptions as service
from wegent.api.validation import MAX_DB_INTEGER, validate_body, validate_query
from wegent.errors import NotFound


class ServicePrincipal:
    """The caller of an internal route: a service, not a user."""

    is_authenticated = True
    pk = None


class ServiceTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <service token>`` (or ``X-Service-Token``), compared in
    constant time."""

    def authenticate(self, request: Any) -> tuple[ServicePrincipal, None]:
        expected = settings.INTERNAL_SERVICE_TOKEN or ""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        token = header[7:] if header.startswith("Bearer ") else request.META.get("HTTP_X_SERVICE_TOKEN", "")
        if not expected or not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise AuthenticationFailed("Invalid service token")
        return ServicePrincipal(), None

    def authenticate_header(self, request: Any) -> str:
        return "Bearer"


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "subscriptions.api.internal.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "internal service token"}


class UserQuery(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)


class InternalSubscriptionView(APIView):
    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["internal"],
        parameters=[UserQuery],
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionOut, 401: OpenApiResponse(description="Invalid service token")},
    )
    def post(self, request: Request) -> Response:
        user_id = validate_query(UserQuery, request)["user_id"]
        data = validate_body(SubscriptionCreateSerializer, request)
        owner = User.objects.filter(pk=user_id, is_active=True).first()
        if owner is None:
            raise NotFound("User not found")
        row = service.create(actor=owner, data=service.SubscriptionInput.of(data))
        return Response(shapes.subscription(selectors.owned_subscription(owner, row.pk)), status=201)


urlpatterns = [
    path("internal/subscriptions", InternalSubscriptionView.as_view(), name="internal-subscriptions")
]
