"""Operator console for users, API keys (hash never shown), groups and members, settings.

Users: disable or enable (their tokens and keys stop working at once: every request checks the
user's row), reset a password (a temporary one is shown once to the operator), revoke all of a
user's keys. Keys: revoke, and the last use (including uses not yet written to the row).
Groups: one "Groups" page with the members and their roles inline. Every action goes through
``accounts.services.admin_users`` (the admin API's rules) and is recorded with ``log_change``.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group as DjangoGroup
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.api import shapes
from accounts.hooks import run_user_created
from accounts.models import ApiKey, Group, GroupMember, SystemConfig, User
from accounts.services import admin_users, api_keys
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
        fields = [
            "user_name",
            "email",
            "role",
            "auth_source",
            "is_active",
            "preferences",
            "console_restricted",
            "console_permissions",
        ]

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
    readonly_fields = ["masked_git_info", "api_key_uses", "created_at", "updated_at"]
    ordering = ["id"]
    filter_horizontal = ["console_permissions"]
    actions = ["disable_users", "enable_users", "reset_passwords", "revoke_user_keys"]

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

    @admin.display(description="API keys (last use)")
    def api_key_uses(self, obj: User) -> str:
        keys = api_keys.with_recent_use(obj.api_keys.order_by("id")) if obj.pk else []
        if not keys:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} ({}, {}): last used {}",
            (
                (key.name, key.key_prefix, "active" if key.is_active else "revoked", key.last_used_at)
                for key in keys
            ),
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Bulk delete would bypass the self/last-admin guards; users are deleted one at a time.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not request.user.has_perm("accounts.change_user"):
            for name in self.actions:
                actions.pop(name, None)
        return actions

    def _each(self, request: HttpRequest, queryset: QuerySet[User], change: Any, done: str) -> int:
        count = 0
        for target in queryset.order_by("id"):
            try:
                message = change(target)
            except DomainError as exc:
                self.message_user(request, f"{target.user_name}: {exc.detail}", messages.ERROR)
                continue
            self.log_change(request, target, message or done)
            count += 1
        return count

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], active: bool) -> None:
        def change(target: User) -> str:
            admin_users.update_user(actor=request.user, user_id=target.pk, is_active=active)
            return (
                "Enabled the user"
                if active
                else "Disabled the user (tokens and API keys refused from now on)"
            )

        count = self._each(request, queryset, change, "")
        self.message_user(request, f"{'Enabled' if active else 'Disabled'} {count} user(s).")

    @admin.action(description="Disable selected users (their tokens and keys stop working)")
    def disable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description="Enable selected users")
    def enable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Reset passwords of selected users (a temporary one is shown once)")
    def reset_passwords(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def change(target: User) -> str:
            temporary = secrets.token_urlsafe(12)
            admin_users.reset_password(actor=request.user, user_id=target.pk, new_password=temporary)
            # Shown to this operator only, once; never logged.
            self.message_user(
                request, f"{target.user_name}: temporary password {temporary}", messages.WARNING
            )
            return "Reset the password"

        self._each(request, queryset, change, "")

    @admin.action(description="Revoke all API keys of selected users")
    def revoke_user_keys(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def change(target: User) -> str:
            count = admin_users.revoke_keys(actor=request.user, owner_ids=[target.pk])
            return f"Revoked {count} API key(s)"

        self._each(request, queryset, change, "")
        self.message_user(request, "Revoked the API keys of the selected users.")

    @admin.display(description="Git credentials (tokens masked)")
    def masked_git_info(self, obj: User) -> list[dict[str, Any]]:
        return shapes.masked_git_info(obj.git_info)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "key_prefix", "key_type", "user", "is_active", "last_used", "expires_at"]
    actions = ["revoke_keys"]
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

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: ApiKey) -> Any:
        # Uses not yet written to the row (kept in the cache for a while) count too.
        return api_keys.with_recent_use([obj])[0].last_used_at

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("accounts.change_apikey"):
            actions.pop("revoke_keys", None)
        return actions

    @admin.action(description="Revoke selected keys (they stop working at once)")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(is_active=True))
        count = admin_users.revoke_keys(actor=request.user, key_ids=[key.pk for key in keys])
        for key in keys:
            self.log_change(request, key, "Revoked the key")
        self.message_user(request, f"Revoked {count} key(s).")


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    fk_name = "group"
    extra = 0
    raw_id_fields = ["user", "invited_by"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    """The one "Groups" page: members and their roles are edited inline."""

    list_display = [
        "id",
        "name",
        "display_name",
        "owner",
        "members",
        "roles",
        "visibility",
        "level",
        "is_active",
        "created_at",
    ]
    list_filter = ["visibility", "level", "is_active"]
    search_fields = ["name", "display_name"]
    raw_id_fields = ["owner"]
    inlines = [GroupMemberInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .prefetch_related("members")
            .annotate(member_count=Count("members", filter=Q(members__is_active=True), distinct=True))
        )

    @admin.display(description="members", ordering="member_count")
    def members(self, obj: Group) -> int:
        return getattr(obj, "member_count", 0)

    @admin.display(description="roles")
    def roles(self, obj: Group) -> str:
        counts: dict[str, int] = {}
        for member in obj.members.all():
            if member.is_active:
                counts[member.role] = counts.get(member.role, 0) + 1
        return ", ".join(f"{role} {count}" for role, count in sorted(counts.items()))


@admin.register(SystemConfig)
class SystemConfigAdmin(admin.ModelAdmin):
    list_display = ["config_key", "version", "updated_by", "updated_at"]
    search_fields = ["config_key"]
    raw_id_fields = ["updated_by"]
