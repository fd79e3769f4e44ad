"""Operator console for users, API keys (hash never shown), groups and members, settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group as DjangoGroup
from django.http import HttpRequest

from accounts.api import shapes
from accounts.hooks import run_user_created
from accounts.models import ApiKey, Group, GroupMember, SystemConfig, User
from accounts.services import admin_users
from wegent.errors import DomainError

# Wegent's groups (namespaces with roles) are the only "Groups" an operator works with; Django's
# permission groups are not used and would sit next to them under the same name.
if admin.site.is_registered(DjangoGroup):
    admin.site.unregister(DjangoGroup)


class UserAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        min_length=6,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )
    # Set by UserAdmin.get_form: the operator making the change, for the self/last-admin guards.
    actor: User | None = None

    class Meta:
        model = User
        fields = ["user_name", "email", "role", "auth_source", "is_active", "preferences"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is not None and "role" in cleaned and "is_active" in cleaned:
            # self.instance still holds the stored values here; the form copies its data in later.
            try:
                admin_users.check_change(
                    actor=self.actor,
                    target=self.instance,
                    role=cleaned["role"],
                    is_active=cleaned["is_active"],
                )
            except DomainError as exc:
                raise forms.ValidationError(str(exc.detail)) from exc
        return cleaned

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

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # Same as users created through the API: default resources are applied.
            run_user_created(obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is None:
            return super().has_delete_permission(request, obj)
        try:
            admin_users.check_delete(actor=request.user, target=obj)
        except DomainError:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        admin_users.delete_user(actor=request.user, user_id=obj.pk)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would bypass the self/last-admin guards; users are deleted one at a time.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Git credentials (tokens masked)")
    def masked_git_info(self, obj: User) -> list[dict[str, Any]]:
        return shapes.masked_git_info(obj.git_info)


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
