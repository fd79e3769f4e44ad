"""``/api/auth/login`` (JSON) and ``/api/auth/oauth2`` (OAuth2 password form)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import auth
from accounts.services.tokens import token_response
from wegent.api.throttling import client_address
from wegent.api.validation import validate_body


class LoginSerializer(serializers.Serializer):
    user_name = serializers.CharField(max_length=100, trim_whitespace=False)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class OAuth2FormSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=100, trim_whitespace=False)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    grant_type = serializers.CharField(required=False, allow_blank=True)
    scope = serializers.CharField(required=False, allow_blank=True)


TokenSerializer = inline_serializer(
    "Token", {"access_token": serializers.CharField(), "token_type": serializers.CharField()}
)
LOGIN_RESPONSES = {
    200: TokenSerializer,
    400: OpenApiResponse(description="Invalid username or password, or user not activated"),
    429: OpenApiResponse(description="Too many failed attempts for this name; see Retry-After"),
}


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    # Not throttled by request count: accounts.services.login_guard counts wrong passwords.
    throttle_classes: list = []
    parser_classes = [JSONParser]

    @extend_schema(request=LoginSerializer, responses=LOGIN_RESPONSES, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = validate_body(LoginSerializer, request)
        user = auth.login(
            user_name=data["user_name"], password=data["password"], address=client_address(request)
        )
        return Response(token_response(user))


class OAuth2LoginView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    # Not throttled by request count: accounts.services.login_guard counts wrong passwords.
    throttle_classes: list = []
    parser_classes = [FormParser, MultiPartParser]

    @extend_schema(request=OAuth2FormSerializer, responses=LOGIN_RESPONSES, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = validate_body(OAuth2FormSerializer, request)
        user = auth.login(
            user_name=data["username"], password=data["password"], address=client_address(request)
        )
        return Response(token_response(user))


urlpatterns = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/oauth2", OAuth2LoginView.as_view(), name="auth-oauth2"),
]
