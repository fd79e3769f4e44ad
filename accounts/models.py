"""Users, API keys, groups (namespaces) and their members, and system configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from accounts.roles import GroupLevel, GroupRole, KeyType, SystemRole, Visibility

NEVER_EXPIRES = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _never_expires() -> datetime:
    return NEVER_EXPIRES


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, user_name: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(user_name=user_name, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, user_name: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("role", SystemRole.ADMIN)
        return self.create_user(user_name, password, **fields)


class User(AbstractBaseUser):
    """A person or an API identity. ``role`` is the system role; group roles live in members."""

    user_name = models.CharField(max_length=50, unique=True)
    email = models.CharField(max_length=100, null=True, blank=True)
    role = models.CharField(max_length=20, choices=SystemRole.choices, default=SystemRole.USER)
    # "password", "oidc", "unknown" or "api:<service key name>".
    auth_source = models.CharField(max_length=120, default="password")
    is_active = models.BooleanField(default=True)
    # Git credentials; each ``git_token`` is stored encrypted (wegent.crypto).
    git_info = models.JSONField(default=list, blank=True)
    preferences = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The operator console: a system admin sees all of it unless restricted to the listed
    # Django model permissions (e.g. an operator who may view tasks but not change users).
    console_restricted = models.BooleanField(
        default=False,
        help_text="Limit this admin's console to the permissions below (no effect on non-admins).",
    )
    console_permissions = models.ManyToManyField(
        "auth.Permission",
        blank=True,
        related_name="+",
        help_text="What a restricted admin may see and do in the console.",
    )

    objects = UserManager()

    USERNAME_FIELD = "user_name"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.user_name

    @property
    def is_admin(self) -> bool:
        return self.role == SystemRole.ADMIN

    # Django admin reads these: system admins are the staff of the operator console.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_staff and not self.console_restricted

    def console_permission_names(self) -> frozenset[str]:
        """``app_label.codename`` of the console permissions (read once per user object)."""
        cached = self.__dict__.get("_console_perms")
        if cached is None:
            rows = self.console_permissions.values_list("content_type__app_label", "codename")
            cached = frozenset(f"{app_label}.{codename}" for app_label, codename in rows)
            self.__dict__["_console_perms"] = cached
        return cached

    def has_perm(self, perm: str, obj: object = None) -> bool:
        if not self.is_staff:
            return False
        return not self.console_restricted or perm in self.console_permission_names()

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        if not self.is_staff:
            return False
        if not self.console_restricted:
            return True
        return any(name.startswith(f"{app_label}.") for name in self.console_permission_names())


class ApiKey(models.Model):
    """A ``wg-`` key; only its SHA-256 is stored. Service keys belong to the admin who made them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
    key_type = models.CharField(
        max_length=20, choices=KeyType.choices, default=KeyType.PERSONAL, db_index=True
    )
    description = models.CharField(max_length=500, blank=True, default="")
    expires_at = models.DateTimeField(default=_never_expires)
    last_used_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class Group(models.Model):
    """A shared namespace. ``name`` may be hierarchical (``parent/child``) and never changes."""

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=100, blank=True, default="")
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_groups"
    )
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PRIVATE)
    description = models.TextField(blank=True, default="")
    level = models.CharField(
        max_length=20, choices=GroupLevel.choices, default=GroupLevel.GROUP, db_index=True
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def parent_name(self) -> str | None:
        return self.name.rsplit("/", 1)[0] if "/" in self.name else None


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_memberships")
    role = models.CharField(max_length=20, choices=GroupRole.choices, default=GroupRole.REPORTER)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="uniq_group_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.group_id}:{self.role}"


class SystemConfig(models.Model):
    """Instance-wide settings edited by admins (quick access, slogans, setup wizard state)."""

    config_key = models.CharField(max_length=100, unique=True)
    config_value = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "system setting"

    def __str__(self) -> str:
        return self.config_key
