"""Instance-wide settings stored as versioned JSON rows (``SystemConfig``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import SystemConfig, User

ADMIN_SETUP_COMPLETED = "admin_setup_completed"
QUICK_ACCESS_RECOMMENDED = "quick_access_recommended"
CHAT_SLOGAN_TIPS = "chat_slogan_tips"


def get_config(key: str) -> SystemConfig | None:
    return SystemConfig.objects.filter(config_key=key).first()


def get_value(key: str, default: Any = None) -> Any:
    row = get_config(key)
    return default if row is None else row.config_value


@transaction.atomic
def set_value(key: str, value: Any, *, actor: User | None) -> SystemConfig:
    """Writes ``value`` and bumps the version (1 on first write)."""
    row = SystemConfig.objects.select_for_update().filter(config_key=key).first()
    if row is None:
        return SystemConfig.objects.create(config_key=key, config_value=value, version=1, updated_by=actor)
    row.config_value = value
    row.version += 1
    row.updated_by = actor
    row.save(update_fields=["config_value", "version", "updated_by", "updated_at"])
    return row


def is_admin_setup_completed() -> bool:
    value = get_value(ADMIN_SETUP_COMPLETED, {})
    return bool(isinstance(value, dict) and value.get("completed"))


def mark_admin_setup_completed(*, actor: User) -> None:
    set_value(ADMIN_SETUP_COMPLETED, {"completed": True}, actor=actor)
