"""``/api/users``: the caller's profile, git credentials, and what the web frontend reads at boot."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.shapes import UserInDBSerializer, user_in_db
from accounts.roles import SystemRole
from accounts.services import user_profile
from wegent.api.permissions import IsSystemAdmin
from wegent.api.validation import nullable_list, validate_body, validate_query

TAGS = ["users"]
# Plain strings in the schema: an enum here would clash with other apps' enums of the same values.
MODES_HELP = "chat, code or both"


class GitInfoInputSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=64)
    git_domain = serializers.CharField(max_length=255)
    git_token = serializers.CharField(
        max_length=4096, help_text="Send the mask back to keep the stored token"
    )
    type = serializers.ChoiceField(choices=user_profile.GIT_TYPES)
    user_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    git_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    git_login = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    git_email = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    auth_type = serializers.ChoiceField(
        choices=user_profile.GIT_AUTH_TYPES, required=False, allow_null=True, allow_blank=True
    )


class PreferencesUpdateSerializer(serializers.Serializer):
    """Other keys are dropped silently, as the reference's schema does."""

    send_key = serializers.ChoiceField(choices=user_profile.PREFERENCE_CHOICES["send_key"], required=False)
    search_key = serializers.ChoiceField(
        choices=user_profile.PREFERENCE_CHOICES["search_key"], required=False
    )
    memory_enabled = serializers.BooleanField(required=False)


class UserUpdateSerializer(serializers.Serializer):
    user_name = serializers.CharField(min_length=2, max_length=50, required=False)
    email = serializers.EmailField(max_length=100, required=False, allow_null=True)
    git_info = nullable_list(GitInfoInputSerializer(), required=False, max_length=50)
    password = serializers.CharField(
        min_length=6, max_length=1024, required=False, allow_null=True, trim_whitespace=False
    )
    preferences = PreferencesUpdateSerializer(required=False, allow_null=True)


class UserCreateSerializer(serializers.Serializer):
    user_name = serializers.CharField(min_length=2, max_length=50)
    password = serializers.CharField(
        max_length=1024, required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    email = serializers.EmailField(max_length=100, required=False, allow_null=True, allow_blank=True)
    role = serializers.ChoiceField(choices=SystemRole.values, required=False, allow_null=True)


class GitTokenDeleteQuerySerializer(serializers.Serializer):
    git_info_id = serializers.CharField(required=False, allow_blank=True, max_length=64)


class UserSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(min_length=1, max_length=100)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


UserSearchItemSerializer = inline_serializer(
    "UserSearchItem",
    {
        "id": serializers.IntegerField(),
        "user_name": serializers.CharField(),
        "email": serializers.CharField(allow_null=True),
    },
    many=True,
)
TeamRefSerializer = inline_serializer(
    "UserDefaultTeam",
    {"name": serializers.CharField(), "namespace": serializers.CharField()},
    allow_null=True,
)
WelcomeItemSerializer = inline_serializer(
    "UserWelcomeItem",
    {
        "id": serializers.IntegerField(),
        "zh": serializers.CharField(),
        "en": serializers.CharField(),
        "mode": serializers.CharField(help_text=MODES_HELP),
    },
    many=True,
)
QuickAccessTeamSerializer = inline_serializer(
    "UserQuickAccessTeam",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "is_system": serializers.BooleanField(),
        "recommended_mode": serializers.CharField(help_text=MODES_HELP),
        "agent_type": serializers.CharField(allow_null=True),
    },
    many=True,
)


class MeView(APIView):
    @extend_schema(responses=UserInDBSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(user_in_db(request.user))

    @extend_schema(request=UserUpdateSerializer, responses=UserInDBSerializer, tags=TAGS)
    def put(self, request: Request) -> Response:
        data = validate_body(UserUpdateSerializer, request)
        changes = user_profile.ProfileChanges(
            user_name=data.get("user_name"),
            email=data.get("email"),
            password=data.get("password"),
            git_info=[dict(item) for item in data["git_info"]] if data.get("git_info") is not None else None,
            preferences=dict(data["preferences"]) if data.get("preferences") is not None else None,
        )
        user = user_profile.update_profile(actor=request.user, changes=changes)
        return Response(user_in_db(user))


class GitTokenView(APIView):
    @extend_schema(parameters=[GitTokenDeleteQuerySerializer], responses=UserInDBSerializer, tags=TAGS)
    def delete(self, request: Request, git_domain: str) -> Response:
        query = validate_query(GitTokenDeleteQuerySerializer, request)
        user = user_profile.delete_git_token(
            actor=request.user, git_domain=git_domain, git_info_id=query.get("git_info_id") or None
        )
        return Response(user_in_db(user))


class PetView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "UserPet",
            {
                "pet_name": serializers.CharField(),
                "is_visible": serializers.BooleanField(),
                "id": serializers.IntegerField(),
                "user_id": serializers.IntegerField(),
                "stage": serializers.IntegerField(),
                "experience": serializers.IntegerField(),
                "total_chats": serializers.IntegerField(),
                "current_streak": serializers.IntegerField(),
                "longest_streak": serializers.IntegerField(),
                "last_active_date": serializers.DateField(allow_null=True),
                "appearance_traits": serializers.DictField(),
                "svg_seed": serializers.CharField(),
                "experience_to_next_stage": serializers.IntegerField(allow_null=True),
                "streak_multiplier": serializers.FloatField(),
                "created_at": serializers.DateTimeField(),
                "updated_at": serializers.DateTimeField(),
            },
        ),
        tags=TAGS,
        description="Read-only placeholder until gamification exists: a hidden newborn pet.",
    )
    def get(self, request: Request) -> Response:
        return Response(user_profile.pet(actor=request.user))


class FeaturesView(APIView):
    @extend_schema(
        responses=inline_serializer("UserFeatures", {"memory_enabled": serializers.BooleanField()}),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(user_profile.features())


class QuickAccessView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "UserQuickAccess",
            {
                "system_version": serializers.IntegerField(),
                "user_version": serializers.IntegerField(allow_null=True),
                "show_system_recommended": serializers.BooleanField(),
                "teams": QuickAccessTeamSerializer,
            },
        ),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(user_profile.quick_access(actor=request.user))


class WelcomeConfigView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "UserWelcomeConfig",
            {
                "slogans": WelcomeItemSerializer,
                "tips": WelcomeItemSerializer,
                "admin_setup_completed": serializers.BooleanField(allow_null=True),
            },
        ),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(user_profile.welcome_config(actor=request.user))


class DefaultTeamsView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "UserDefaultTeams", {mode: TeamRefSerializer for mode in user_profile.DEFAULT_TEAM_MODES}
        ),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        return Response(user_profile.default_teams())


class UserSearchView(APIView):
    @extend_schema(
        parameters=[UserSearchQuerySerializer],
        responses=inline_serializer(
            "UserSearchResult",
            {"users": UserSearchItemSerializer, "total": serializers.IntegerField()},
        ),
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = validate_query(UserSearchQuerySerializer, request)
        found = user_profile.search_users(actor=request.user, query=query["q"], limit=query["limit"])
        users = [{"id": u.id, "user_name": u.user_name, "email": u.email} for u in found]
        return Response({"users": users, "total": len(users)})


class UserCreateView(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(request=UserCreateSerializer, responses={201: UserInDBSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = validate_body(UserCreateSerializer, request)
        user = user_profile.create_user_as_admin(
            actor=request.user,
            user_name=data["user_name"],
            password=data.get("password"),
            email=data.get("email"),
            role=data.get("role"),
        )
        return Response(user_in_db(user), status=201)


urlpatterns = [
    path("users", UserCreateView.as_view(), name="users"),
    path("users/me", MeView.as_view(), name="users-me"),
    path("users/me/git-token/<path:git_domain>", GitTokenView.as_view(), name="users-me-git-token"),
    path("users/me/pet", PetView.as_view(), name="users-me-pet"),
    path("users/features", FeaturesView.as_view(), name="users-features"),
    path("users/quick-access", QuickAccessView.as_view(), name="users-quick-access"),
    path("users/welcome-config", WelcomeConfigView.as_view(), name="users-welcome-config"),
    path("users/default-teams", DefaultTeamsView.as_view(), name="users-default-teams"),
    path("users/search", UserSearchView.as_view(), name="users-search"),
]
