"""Operator console for users, API keys (hash never shown), groups and members, settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.models import ApiKey, Group, GroupMember, SystemConfig, User
from wegent import crypto


class UserAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = User
        fields = ["user_name", "email", "role", "auth_source", "is_active", "preferences"]

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            user.set_password(self.cleaned_data["new_password"])
        elif user.pk is None:
            user.set_unusable_password()
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserAdminForm
    list_display = ["id", "user_name", "email", "role", "auth_source", "is_active", "created_at"]
    list_filter = ["role", "is_active", "auth_source"]
    search_fields = ["user_name", "email"]
    readonly_fields = ["masked_git_info", "created_at", "updated_at"]
    ordering = ["id"]

    @admin.display(description="Git credentials (tokens masked)")
    def masked_git_info(self, obj: User) -> list[dict[str, Any]]:
        return [
            {**entry, "git_token": crypto.mask(entry.get("git_token", ""))}
            for entry in (obj.git_info or [])
            if isinstance(entry, dict)
        ]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "key_prefix", "key_type", "user", "is_active", "last_used_at", "expires_at"]
    list_filter = ["key_type", "is_active"]
    search_fields = ["name", "key_prefix", "user__user_name"]
    # The hash is never shown; keys are created through the API, where the plaintext is shown once.
    fields = [
        "name",
        "description",
        "key_prefix",
        "key_type",
        "user",
        "is_active",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    readonly_fields = ["key_prefix", "key_type", "user", "last_used_at", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    fk_name = "group"
    extra = 0
    raw_id_fields = ["user", "invited_by"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "display_name", "owner", "visibility", "level", "is_active", "created_at"]
    list_filter = ["visibility", "level", "is_active"]
    search_fields = ["name", "display_name"]
    raw_id_fields = ["owner"]
    inlines = [GroupMemberInline]


@admin.register(GroupMember)
class GroupMemberAdmin(admin.ModelAdmin):
    list_display = ["id", "group", "user", "role", "is_active", "created_at"]
    list_filter = ["role", "is_active"]
    search_fields = ["group__name", "user__user_name"]
    raw_id_fields = ["group", "user", "invited_by"]


@admin.register(SystemConfig)
class SystemConfigAdmin(admin.ModelAdmin):
    list_display = ["config_key", "version", "updated_by", "updated_at"]
    search_fields = ["config_key"]
    raw_id_fields = ["updated_by"]
