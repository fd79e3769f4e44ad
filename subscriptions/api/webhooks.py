"""``POST /api/subscriptions/webhook/{token}``: no login; the token (and the signature when
the subscription has a secret) is the credential. The raw body is read once, size-limited."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from subscriptions import tasks
from subscriptions.services import webhooks


class WebhookView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        tags=["subscriptions"],
        request={"application/json": dict},
        responses={
            200: inline_serializer(
                "WebhookAccepted",
                {
                    "message": serializers.CharField(),
                    "execution_id": serializers.IntegerField(),
                    "duplicate": serializers.BooleanField(),
                },
            ),
            401: OpenApiResponse(description="Missing or invalid signature"),
            404: OpenApiResponse(description="Unknown or disabled webhook"),
            413: OpenApiResponse(description="Body too large"),
        },
    )
    def post(self, request: Request, webhook_token: str) -> Response:
        body = request.body
        delivery = webhooks.deliver(webhook_token, body, request.headers.get("X-Webhook-Signature"))
        if not delivery.duplicate:
            tasks.dispatch(delivery.execution.pk)
        return Response(
            {
                "message": "Webhook received",
                "execution_id": delivery.execution.pk,
                "duplicate": delivery.duplicate,
            }
        )


urlpatterns = [
    path("subscriptions/webhook/<str:webhook_token>", WebhookView.as_view(), name="subscription-webhook"),
]
