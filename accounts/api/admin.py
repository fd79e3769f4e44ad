"""``/api/admin``: users, statistics, setup flag, admin token, service and personal keys.

Every route requires a system admin. Public resources and kind management live in the apps
that own those rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.api_keys import ApiKeyCreateSerializer, ApiKeySerializer, key_created_body
from accounts.api.auth import TokenSerializer
from accounts.models import ApiKey, User
from accounts.roles import KeyType, SystemRole
from accounts.services import admin_users, api_keys, system_config
from accounts.services.tokens import token_response
from wegent.api.pagination import envelope, page_params, paginate
from wegent.api.permissions import IsSystemAdmin
from wegent.api.validation import validate_body, validate_query

# The reference mints a 500-year token; well inside datetime's range, so no overflow.
ADMIN_TOKEN_LIFETIME = timedelta(days=365 * 500)

TAGS = ["admin"]


# --- shapes ------------------------------------------------------------------------------


class AdminUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "user_name", "email", "role", "auth_source", "is_active", "created_at", "updated_at"]


AdminUserListSerializer = inline_serializer(
    "AdminUserList", {"total": serializers.IntegerField(), "items": AdminUserSerializer(many=True)}
)


class OptionalEmailField(serializers.EmailField):
    """An email or nothing: ``""`` and ``null`` both mean "no email"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=100, required=False, allow_null=True, allow_blank=True, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> str | None:
        return super().run_validation(data) or None


class UserListQuery(serializers.Serializer):
    include_inactive = serializers.BooleanField(default=False)
    search = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class AdminUserCreateSerializer(serializers.Serializer):
    user_name = serializers.CharField(min_length=2, max_length=50)
    password = serializers.CharField(
        min_length=6, max_length=1024, required=False, allow_null=True, trim_whitespace=False
    )
    email = OptionalEmailField()
    role = serializers.ChoiceField(choices=SystemRole.choices, default=SystemRole.USER)
    auth_source = serializers.ChoiceField(choices=["password", "oidc"], default="password")


class AdminUserUpdateSerializer(serializers.Serializer):
    user_name = serializers.CharField(min_length=2, max_length=50, required=False, allow_null=True)
    email = OptionalEmailField()
    role = serializers.ChoiceField(choices=SystemRole.choices, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False, allow_null=True)
    password = serializers.CharField(
        min_length=6, max_length=1024, required=False, allow_null=True, trim_whitespace=False
    )


class PasswordResetSerializer(serializers.Serializer):
    new_password = serializers.CharField(min_length=6, max_length=1024, trim_whitespace=False)


class RoleUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=SystemRole.choices)


StatsSerializer = inline_serializer(
    "AdminStats",
    {
        "total_users": serializers.IntegerField(),
        "active_users": serializers.IntegerField(),
        "admin_count": serializers.IntegerField(),
        "total_tasks": serializers.IntegerField(),
        "total_public_models": serializers.IntegerField(),
    },
)

SuccessSerializer = inline_serializer(
    "AdminSuccess", {"success": serializers.BooleanField(), "message": serializers.CharField()}
)


class ServiceKeySerializer(ApiKeySerializer):
    created_by = serializers.CharField(source="user.user_name", allow_null=True, read_only=True)

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "created_by"]


class ServiceKeyCreatedSerializer(ServiceKeySerializer):
    key = serializers.CharField(read_only=True)

    class Meta(ServiceKeySerializer.Meta):
        fields = [*ServiceKeySerializer.Meta.fields, "key"]


ServiceKeyListSerializer = inline_serializer(
    "ServiceKeyList", {"items": ServiceKeySerializer(many=True), "total": serializers.IntegerField()}
)


class AdminPersonalKeySerializer(ApiKeySerializer):
    user_id = serializers.IntegerField(read_only=True)
    user_name = serializers.CharField(source="user.user_name", read_only=True)

    class Meta(ApiKeySerializer.Meta):
        fields = ["id", "user_id", "user_name", *ApiKeySerializer.Meta.fields[1:]]


AdminPersonalKeyListSerializer = inline_serializer(
    "AdminPersonalKeyList",
    {"total": serializers.IntegerField(), "items": AdminPersonalKeySerializer(many=True)},
)

PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description="Page size (max 100)"),
]


def _user_body(user: User) -> dict[str, Any]:
    return dict(AdminUserSerializer(user).data)


def _service_key_bodies(keys: Iterable[ApiKey]) -> list[dict[str, Any]]:
    return [dict(ServiceKeySerializer(key).data) for key in api_keys.with_recent_use(keys)]


def _personal_key_bodies(keys: Iterable[ApiKey]) -> list[dict[str, Any]]:
    return [dict(AdminPersonalKeySerializer(key).data) for key in api_keys.with_recent_use(keys)]


class AdminView(APIView):
    permission_classes = [IsSystemAdmin]


# --- users -------------------------------------------------------------------------------


class UserListView(AdminView):
    @extend_schema(
        parameters=[*PAGE_PARAMS, UserListQuery],
        responses=AdminUserListSerializer,
        tags=TAGS,
        operation_id="admin_users_list",
    )
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=20)
        query = validate_query(UserListQuery, request)
        found = admin_users.list_users(search=query["search"], include_inactive=query["include_inactive"])
        rows, total = paginate(found, page)
        return Response(envelope([_user_body(user) for user in rows], total))

    @extend_schema(request=AdminUserCreateSerializer, responses={201: AdminUserSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(AdminUserCreateSerializer, request)
        user = admin_users.create_user(
            actor=request.user,
            user_name=data["user_name"],
            password=data.get("password"),
            email=data.get("email"),
            role=data["role"],
            auth_source=data["auth_source"],
        )
        return Response(_user_body(user), status=201)


class UserDetailView(AdminView):
    @extend_schema(responses=AdminUserSerializer, tags=TAGS)
    def get(self, request: Request, user_id: int) -> Response:
        return Response(_user_body(admin_users.get_user(user_id)))

    @extend_schema(request=AdminUserUpdateSerializer, responses=AdminUserSerializer, tags=TAGS)
    def put(self, request: Request, user_id: int) -> Response:
        data = validate_body(AdminUserUpdateSerializer, request)
        changes = {key: value for key, value in data.items() if value is not None and key != "email"}
        if "email" in data:
            changes["email"] = data["email"]
        user = admin_users.update_user(actor=request.user, user_id=user_id, **changes)
        return Response(_user_body(user))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, user_id: int) -> Response:
        admin_users.delete_user(actor=request.user, user_id=user_id)
        return Response(status=204)


class UserResetPasswordView(AdminView):
    @extend_schema(request=PasswordResetSerializer, responses=AdminUserSerializer, tags=TAGS)
    def post(self, request: Request, user_id: int) -> Response:
        data = validate_body(PasswordResetSerializer, request)
        user = admin_users.reset_password(
            actor=request.user, user_id=user_id, new_password=data["new_password"]
        )
        return Response(_user_body(user))


class UserToggleStatusView(AdminView):
    @extend_schema(request=None, responses=AdminUserSerializer, tags=TAGS)
    def post(self, request: Request, user_id: int) -> Response:
        return Response(_user_body(admin_users.toggle_status(actor=request.user, user_id=user_id)))


class UserRoleView(AdminView):
    @extend_schema(request=RoleUpdateSerializer, responses=AdminUserSerializer, tags=TAGS)
    def put(self, request: Request, user_id: int) -> Response:
        data = validate_body(RoleUpdateSerializer, request)
        user = admin_users.set_role(actor=request.user, user_id=user_id, role=data["role"])
        return Response(_user_body(user))


# --- instance ----------------------------------------------------------------------------


class StatsView(AdminView):
    @extend_schema(responses=StatsSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(admin_users.system_stats())


class SetupCompleteView(AdminView):
    @extend_schema(request=None, responses=SuccessSerializer, tags=TAGS)
    def post(self, request: Request) -> Response:
        system_config.mark_admin_setup_completed(actor=request.user)
        return Response({"success": True, "message": "Admin setup marked as completed"})


class AdminTokenView(AdminView):
    @extend_schema(request=None, responses=TokenSerializer, tags=TAGS)
    def post(self, request: Request) -> Response:
        return Response(token_response(request.user, lifetime=ADMIN_TOKEN_LIFETIME))


# --- keys --------------------------------------------------------------------------------


class ServiceKeyListView(AdminView):
    @extend_schema(responses=ServiceKeyListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        items = _service_key_bodies(admin_users.service_keys())
        return Response({"items": items, "total": len(items)})

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ServiceKeyCreatedSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(ApiKeyCreateSerializer, request)
        api_key, raw = admin_users.create_service_key(
            actor=request.user, name=data["name"], description=data["description"]
        )
        body = key_created_body(api_key, raw)
        body["created_by"] = request.user.user_name
        return Response(body, status=201)


class ServiceKeyToggleView(AdminView):
    @extend_schema(request=None, responses=ServiceKeySerializer, tags=TAGS)
    def post(self, request: Request, key_id: int) -> Response:
        api_key = admin_users.toggle_any_key(actor=request.user, key_id=key_id, key_type=KeyType.SERVICE)
        return Response(_service_key_bodies([api_key])[0])


class ServiceKeyDetailView(AdminView):
    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, key_id: int) -> Response:
        admin_users.delete_any_key(actor=request.user, key_id=key_id, key_type=KeyType.SERVICE)
        return Response(status=204)


class PersonalKeyQuery(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class PersonalKeyListView(AdminView):
    @extend_schema(
        parameters=[*PAGE_PARAMS, PersonalKeyQuery], responses=AdminPersonalKeyListSerializer, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        page = page_params(request, default_limit=50)
        query = validate_query(PersonalKeyQuery, request)
        rows, total = paginate(admin_users.personal_keys(search=query["search"]), page)
        return Response(envelope(_personal_key_bodies(rows), total))


class PersonalKeyToggleView(AdminView):
    @extend_schema(request=None, responses=AdminPersonalKeySerializer, tags=TAGS)
    def post(self, request: Request, key_id: int) -> Response:
        api_key = admin_users.toggle_any_key(actor=request.user, key_id=key_id, key_type=KeyType.PERSONAL)
        return Response(_personal_key_bodies([api_key])[0])


class PersonalKeyDetailView(AdminView):
    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, key_id: int) -> Response:
        admin_users.delete_any_key(actor=request.user, key_id=key_id, key_type=KeyType.PERSONAL)
        return Response(status=204)


urlpatterns = [
    path("admin/users", UserListView.as_view(), name="admin-users"),
    path("admin/users/<int:user_id>", UserDetailView.as_view(), name="admin-user-detail"),
    path(
        "admin/users/<int:user_id>/reset-password",
        UserResetPasswordView.as_view(),
        name="admin-user-reset-password",
    ),
    path(
        "admin/users/<int:user_id>/toggle-status",
        UserToggleStatusView.as_view(),
        name="admin-user-toggle-status",
    ),
    path("admin/users/<int:user_id>/role", UserRoleView.as_view(), name="admin-user-role"),
    path("admin/stats", StatsView.as_view(), name="admin-stats"),
    path("admin/setup-complete", SetupCompleteView.as_view(), name="admin-setup-complete"),
    path("admin/generate-admin-token", AdminTokenView.as_view(), name="admin-generate-token"),
    path("admin/service-keys", ServiceKeyListView.as_view(), name="admin-service-keys"),
    path(
        "admin/service-keys/<int:key_id>/toggle-status",
        ServiceKeyToggleView.as_view(),
        name="admin-service-key-toggle",
    ),
    path("admin/service-keys/<int:key_id>", ServiceKeyDetailView.as_view(), name="admin-service-key-detail"),
    path("admin/personal-keys", PersonalKeyListView.as_view(), name="admin-personal-keys"),
    path(
        "admin/personal-keys/<int:key_id>/toggle-status",
        PersonalKeyToggleView.as_view(),
        name="admin-personal-key-toggle",
    ),
    path(
        "admin/personal-keys/<int:key_id>", PersonalKeyDetailView.as_view(), name="admin-personal-key-detail"
    ),
]
