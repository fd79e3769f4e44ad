"""``/api/auth/oidc/*``: OIDC login for the web UI (redirects) and the CLI (session + polling).

All routes are public: they are the way in. The rules live in ``accounts.services.oidc``.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import oidc
from wegent.api.throttling import LoginIpThrottle
from wegent.api.validation import validate_body, validate_query

TAGS = ["auth"]


class PublicView(APIView):
    authentication_classes: list = []
    permission_classes: list = []


class UserAuthTypeQuery(serializers.Serializer):
    username = serializers.CharField(max_length=100, trim_whitespace=False)


class CliLoginSerializer(serializers.Serializer):
    session_id = serializers.CharField(max_length=64, trim_whitespace=False)


class CliPollQuery(serializers.Serializer):
    session_id = serializers.CharField(max_length=64, trim_whitespace=False)


UserAuthTypeSerializer = inline_serializer(
    "OidcUserAuthType",
    {"exists": serializers.BooleanField(), "auth_source": serializers.CharField(allow_null=True)},
)
CliLoginResponseSerializer = inline_serializer(
    "OidcCliLogin", {"auth_url": serializers.CharField(), "session_id": serializers.CharField()}
)
CliPollResponseSerializer = inline_serializer(
    "OidcCliPoll",
    {
        "status": serializers.ChoiceField(choices=["pending", "success", "failed"]),
        "access_token": serializers.CharField(required=False),
        "username": serializers.CharField(required=False),
        "error": serializers.CharField(required=False),
    },
)
CALLBACK_PARAMETERS = [
    OpenApiParameter("code", str, description="Authorization code from the provider"),
    OpenApiParameter("state", str, description="The signed state sent with the authorize request"),
    OpenApiParameter("error", str, description="Error code from the provider"),
    OpenApiParameter("error_description", str, description="Error text from the provider"),
]
ERROR_RESPONSES = {
    400: OpenApiResponse(description="OIDC login is not enabled"),
    502: OpenApiResponse(description="The identity provider could not be reached"),
    503: OpenApiResponse(description="OIDC is not configured"),
}


class OidcLoginView(PublicView):
    @extend_schema(
        request=None,
        responses={307: OpenApiResponse(description="Redirect to the provider"), **ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponseRedirect(oidc.authorization_url(request._request), status=307)


class OidcCallbackView(PublicView):
    @extend_schema(
        request=None,
        parameters=CALLBACK_PARAMETERS,
        responses={302: OpenApiResponse(description="Redirect to the frontend with a token or an error")},
        tags=TAGS,
    )
    def get(self, request: Request) -> HttpResponse:
        return HttpResponseRedirect(oidc.web_callback_redirect(request._request))


class OidcMetadataView(PublicView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(oidc.provider_metadata())


class UserAuthTypeView(PublicView):
    # Public and answers whether a name exists: throttled like login.
    throttle_classes = [LoginIpThrottle]

    @extend_schema(
        request=None, parameters=[UserAuthTypeQuery], responses={200: UserAuthTypeSerializer}, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        query = validate_query(UserAuthTypeQuery, request)
        return Response(oidc.user_auth_type(query["username"]))


class CliLoginView(PublicView):
    throttle_classes = [LoginIpThrottle]

    @extend_schema(
        request=CliLoginSerializer,
        responses={200: CliLoginResponseSerializer, **ERROR_RESPONSES},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        data = validate_body(CliLoginSerializer, request)
        return Response(oidc.start_cli_login(request._request, session_id=data["session_id"]))


class CliCallbackView(PublicView):
    @extend_schema(
        request=None,
        parameters=CALLBACK_PARAMETERS,
        responses={
            (200, "text/html"): OpenApiTypes.STR,
            (400, "text/html"): OpenApiTypes.STR,
        },
        tags=TAGS,
    )
    def get(self, request: Request) -> HttpResponse:
        outcome = oidc.finish_cli_login(request._request)
        page = render_to_string("accounts/oidc_cli_result.html", {"outcome": outcome})
        return HttpResponse(page, status=200 if outcome.success else 400, content_type="text/html")


class CliPollView(PublicView):
    @extend_schema(
        request=None, parameters=[CliPollQuery], responses={200: CliPollResponseSerializer}, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        query = validate_query(CliPollQuery, request)
        return Response(oidc.poll_cli_session(query["session_id"]))


urlpatterns = [
    path("auth/oidc/login", OidcLoginView.as_view(), name="auth-oidc-login"),
    path("auth/oidc/callback", OidcCallbackView.as_view(), name=oidc.WEB_CALLBACK_ROUTE),
    path("auth/oidc/metadata", OidcMetadataView.as_view(), name="auth-oidc-metadata"),
    path("auth/oidc/user-auth-type", UserAuthTypeView.as_view(), name="auth-oidc-user-auth-type"),
    path("auth/oidc/cli-login", CliLoginView.as_view(), name="auth-oidc-cli-login"),
    path("auth/oidc/cli-callback", CliCallbackView.as_view(), name=oidc.CLI_CALLBACK_ROUTE),
    path("auth/oidc/cli-poll", CliPollView.as_view(), name="auth-oidc-cli-poll"),
]
