"""Wire shapes of users shared by several routes (``UserInDB``, the brief user)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User
from wegent import crypto

PREFERENCE_KEYS = ("send_key", "search_key", "memory_enabled")


class GitInfoSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, allow_null=True)
    git_domain = serializers.CharField()
    git_token = serializers.CharField(help_text="Masked in responses")
    type = serializers.CharField()
    user_name = serializers.CharField(required=False, allow_null=True)
    git_id = serializers.CharField(required=False, allow_null=True)
    git_login = serializers.CharField(required=False, allow_null=True)
    git_email = serializers.CharField(required=False, allow_null=True)
    auth_type = serializers.CharField(required=False, allow_null=True)


class PreferencesSerializer(serializers.Serializer):
    send_key = serializers.CharField(required=False)
    search_key = serializers.CharField(required=False)
    memory_enabled = serializers.BooleanField(required=False)


def masked_git_info(git_info: Any) -> list[dict[str, Any]]:
    entries = git_info if isinstance(git_info, list) else []
    return [
        {**entry, "git_token": crypto.mask(entry.get("git_token") or "")}
        for entry in entries
        if isinstance(entry, dict)
    ]


def public_preferences(preferences: Any) -> dict[str, Any] | None:
    if not isinstance(preferences, dict):
        return None
    shown = {key: preferences[key] for key in PREFERENCE_KEYS if key in preferences}
    return shown or None


class UserInDBSerializer(serializers.ModelSerializer):
    """The reference's ``UserInDB``, with git tokens masked instead of decrypted."""

    git_info = serializers.SerializerMethodField()
    preferences = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "user_name",
            "email",
            "is_active",
            "git_info",
            "preferences",
            "role",
            "auth_source",
            "created_at",
            "updated_at",
        ]

    def get_git_info(self, obj: User) -> list[dict[str, Any]]:
        return masked_git_info(obj.git_info)

    def get_preferences(self, obj: User) -> dict[str, Any] | None:
        return public_preferences(obj.preferences)


def user_in_db(user: User) -> dict[str, Any]:
    return dict(UserInDBSerializer(user).data)
