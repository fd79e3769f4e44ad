"""What system admins may do to users and to everybody's API keys.

The guards keep the instance manageable: an admin never locks themself out, and there is
always at least one active admin left. They are checked against rows locked for the
transaction, so two admins demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet, RestrictedError

from accounts.exceptions import AdminRequired, ApiKeyNotFound
from accounts.hooks import admin_stats
from accounts.models import ApiKey, User
from accounts.roles import KeyType, SystemRole
from accounts.services import api_keys, users
from wegent.errors import BadRequest, NotFound

PASSWORD_REQUIRED = "Password is required for password authentication"
CANNOT_DEACTIVATE_SELF = "Cannot deactivate your own account"
CANNOT_DELETE_SELF = "Cannot delete your own account"
CANNOT_TOGGLE_SELF = "Cannot toggle your own account status"
CANNOT_DEMOTE_ONLY_ADMIN = "Cannot demote yourself when you are the only admin"
LAST_ADMIN_DEMOTE = "Cannot demote the last active admin"
LAST_ADMIN_DEACTIVATE = "Cannot deactivate the last active admin"
LAST_ADMIN_DELETE = "Cannot delete the last active admin"
OIDC_PASSWORD = "Cannot reset password for OIDC-authenticated users"
SERVICE_KEY_NOT_FOUND = "Service key not found"
PERSONAL_KEY_NOT_FOUND = "Personal key not found"

# Counters other apps provide through accounts.hooks.admin_stats; 0 until they do.
HOOKED_STATS = ("total_tasks", "total_public_models")

_UNCHANGED: Any = object()


# --- reads -------------------------------------------------------------------------------


def list_users(*, search: str = "", include_inactive: bool = False) -> QuerySet[User]:
    query = User.objects.all()
    if not include_inactive:
        query = query.filter(is_active=True)
    if search:
        query = query.filter(Q(user_name__icontains=search) | Q(email__icontains=search))
    return query.order_by("id")


def get_user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound(f"User with id {user_id} not found")
    return user


def system_stats() -> dict[str, int]:
    stats = {
        "total_users": User.objects.count(),
        "active_users": User.objects.filter(is_active=True).count(),
        "admin_count": _active_admins().count(),
    }
    provided: dict[str, int] = {}
    for counters in admin_stats:
        provided.update(counters())
    for name in HOOKED_STATS:
        stats[name] = int(provided.get(name, 0))
    return stats


def service_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(key_type=KeyType.SERVICE).select_related("user")


def personal_keys(*, search: str = "") -> QuerySet[ApiKey]:
    query = ApiKey.objects.filter(key_type=KeyType.PERSONAL).select_related("user")
    if search:
        query = query.filter(Q(user__user_name__icontains=search) | Q(name__icontains=search))
    return query.order_by("-created_at", "-id")


# --- guards ------------------------------------------------------------------------------


def _active_admins() -> QuerySet[User]:
    return User.objects.filter(role=SystemRole.ADMIN, is_active=True)


def _is_active_admin(user: User) -> bool:
    return user.is_active and user.role == SystemRole.ADMIN


def _has_other_active_admin(target: User) -> bool:
    others = _active_admins().exclude(pk=target.pk)
    if transaction.get_connection().in_atomic_block:
        # Locking every other active admin serialises concurrent demotions and deactivations.
        others = others.select_for_update()
    return bool(list(others.values_list("pk", flat=True)))


def check_change(*, actor: User | None, target: User, role: str | None, is_active: bool | None) -> None:
    """Raises BadRequest when setting ``role``/``is_active`` (None = unchanged) breaks a guard."""
    is_self = actor is not None and actor.pk == target.pk
    new_role = target.role if role is None else role
    new_active = target.is_active if is_active is None else is_active
    if is_self and target.is_active and not new_active:
        raise BadRequest(CANNOT_DEACTIVATE_SELF)
    stays_admin = new_active and new_role == SystemRole.ADMIN
    if not _is_active_admin(target) or stays_admin or _has_other_active_admin(target):
        return
    if new_role != SystemRole.ADMIN:
        raise BadRequest(CANNOT_DEMOTE_ONLY_ADMIN if is_self else LAST_ADMIN_DEMOTE)
    raise BadRequest(LAST_ADMIN_DEACTIVATE)


def check_delete(*, actor: User | None, target: User) -> None:
    if actor is not None and actor.pk == target.pk:
        raise BadRequest(CANNOT_DELETE_SELF)
    if _is_active_admin(target) and not _has_other_active_admin(target):
        raise BadRequest(LAST_ADMIN_DELETE)


def _can_have_password(user: User) -> bool:
    return user.auth_source in ("password", "unknown") or user.auth_source.startswith("api:")


def _set_password(user: User, password: str) -> None:
    if not _can_have_password(user):
        raise BadRequest(OIDC_PASSWORD)
    user.set_password(password)
    if user.auth_source == "unknown":
        user.auth_source = "password"


def _require_admin(actor: User) -> None:
    # The views check this too; services re-check so every caller (admin actions, commands) is safe.
    if not (actor.is_active and actor.role == SystemRole.ADMIN):
        raise AdminRequired()


def _locked_user(user_id: int) -> User:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound(f"User with id {user_id} not found")
    return user


# --- user writes -------------------------------------------------------------------------


def create_user(
    *,
    actor: User,
    user_name: str,
    password: str | None,
    email: str | None,
    role: str = SystemRole.USER,
    auth_source: str = "password",
) -> User:
    _require_admin(actor)
    if auth_source == "password" and not password:
        raise BadRequest(PASSWORD_REQUIRED)
    return users.create_user(
        user_name=user_name, password=password or None, email=email, role=role, auth_source=auth_source
    )


@transaction.atomic
def update_user(
    *,
    actor: User,
    user_id: int,
    user_name: str | None = None,
    email: Any = _UNCHANGED,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Applies the given changes; ``None`` leaves a field as it is, except ``email`` (None clears)."""
    _require_admin(actor)
    user = _locked_user(user_id)
    check_change(actor=actor, target=user, role=role, is_active=is_active)
    if user_name is not None and user_name != user.user_name:
        if User.objects.filter(user_name=user_name).exclude(pk=user.pk).exists():
            raise BadRequest(users.USER_EXISTS)
        user.user_name = user_name
    if email is not _UNCHANGED:
        user.email = email
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    if password is not None:
        _set_password(user, password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Another request took the new name between the check above and this write.
        raise BadRequest(users.USER_EXISTS)
    return user


@transaction.atomic
def delete_user(*, actor: User, user_id: int) -> None:
    """Hard delete. Service keys the user created are handed to ``actor`` so integrations keep working."""
    _require_admin(actor)
    user = _locked_user(user_id)
    check_delete(actor=actor, target=user)
    ApiKey.objects.filter(user=user, key_type=KeyType.SERVICE).update(user=actor)
    try:
        user.delete()
    except (ProtectedError, RestrictedError):
        # Raised before anything is deleted; leaving the transaction undoes the key hand-over.
        raise BadRequest("Cannot delete user: other records still reference this user")


@transaction.atomic
def reset_password(*, actor: User, user_id: int, new_password: str) -> User:
    _require_admin(actor)
    user = _locked_user(user_id)
    _set_password(user, new_password)
    user.save()
    return user


@transaction.atomic
def toggle_status(*, actor: User, user_id: int) -> User:
    _require_admin(actor)
    user = _locked_user(user_id)
    if actor.pk == user.pk:
        raise BadRequest(CANNOT_TOGGLE_SELF)
    check_change(actor=actor, target=user, role=None, is_active=not user.is_active)
    user.is_active = not user.is_active
    user.save(update_fields=["is_active", "updated_at"])
    return user


@transaction.atomic
def set_role(*, actor: User, user_id: int, role: str) -> User:
    _require_admin(actor)
    user = _locked_user(user_id)
    check_change(actor=actor, target=user, role=role, is_active=None)
    user.role = role
    user.save(update_fields=["role", "updated_at"])
    return user


# --- everybody's API keys ----------------------------------------------------------------


def create_service_key(*, actor: User, name: str, description: str = "") -> tuple[ApiKey, str]:
    _require_admin(actor)
    return api_keys.create_key(owner=actor, name=name, description=description, key_type=KeyType.SERVICE)


def toggle_any_key(*, actor: User, key_id: int, key_type: str) -> ApiKey:
    _require_admin(actor)
    try:
        return api_keys.toggle_key(actor=actor, key_id=key_id, key_type=key_type)
    except ApiKeyNotFound:
        raise NotFound(_key_not_found(key_type))


def delete_any_key(*, actor: User, key_id: int, key_type: str) -> None:
    _require_admin(actor)
    try:
        api_keys.delete_key(actor=actor, key_id=key_id, key_type=key_type)
    except ApiKeyNotFound:
        raise NotFound(_key_not_found(key_type))


@transaction.atomic
def revoke_keys(*, actor: User, key_ids: list[int] | None = None, owner_ids: list[int] | None = None) -> int:
    """Deactivates the given keys, or every key of the given users; they stop working at once
    (a key is checked against its row on every request). Returns how many were active."""
    _require_admin(actor)
    query = ApiKey.objects.filter(is_active=True)
    if key_ids is not None:
        query = query.filter(pk__in=key_ids)
    if owner_ids is not None:
        query = query.filter(user_id__in=owner_ids)
    if key_ids is None and owner_ids is None:
        return 0
    return query.update(is_active=False)


def _key_not_found(key_type: str) -> str:
    return SERVICE_KEY_NOT_FOUND if key_type == KeyType.SERVICE else PERSONAL_KEY_NOT_FOUND
