"""Writing the audit trail (one INSERT per write; nothing here ever updates or deletes a row,
except the retention purge)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from audit.context import Origin
from audit.models import AuditEntry
from wegent import inserts

_CREATE, _CHANGE, _DELETE = 1, 2, 3  # django.contrib.admin.models ADDITION, CHANGE, DELETION
ADMIN_ACTIONS = {_CREATE: "create", _CHANGE: "update", _DELETE: "delete"}


@dataclass(frozen=True)
class Target:
    """What was written to (empty for a route that names no single object)."""

    type: str = ""
    id: Any = ""
    repr: str = ""


def _name(user: User | None) -> str:
    return user.user_name[:64] if user is not None else ""


def record(
    *,
    via: str,
    action: str,
    actor: User | None,
    on_behalf_of: User | None = None,
    target: Target | None = None,
    route: str = "",
    method: str = "",
    status_code: int | None = None,
    ip_address: str = "",
    request_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    target = target or Target()
    if on_behalf_of is not None and actor is not None and on_behalf_of.pk == actor.pk:
        on_behalf_of = None
    entry = AuditEntry(
        actor=actor,
        actor_name=_name(actor),
        on_behalf_of=on_behalf_of,
        on_behalf_of_name=_name(on_behalf_of),
        via=via,
        action=action[:32],
        object_type=str(target.type)[:100],
        object_id=str(target.id if target.id is not None else "")[:64],
        object_repr=str(target.repr)[:200],
        route=route[:200],
        method=method[:8],
        status_code=status_code,
        ip_address=ip_address[:64],
        request_id=request_id[:64],
        detail=detail or {},
    )
    if connection.in_atomic_block:
        # Inside the write's own transaction: commits with it, durably. Not ``_insert``: its
        # PostgreSQL statement turns synchronous_commit off for the whole transaction.
        entry.save(force_insert=True)
        return entry
    if connection.vendor == "sqlite":
        # SQLite's writers queue for the process's write lock, which a transaction takes.
        with transaction.atomic():
            _insert(entry)
    else:
        _insert(entry)  # autocommit: the statement is its own transaction
    return entry


def _insert(entry: AuditEntry) -> None:
    """One INSERT statement, and outside a transaction a single round trip.

    Every API write pays for its entry, so this skips the ORM's save machinery (no signals
    listen to ``AuditEntry``) and, on PostgreSQL, the BEGIN / SET LOCAL / COMMIT round trips.
    """
    returning_extra = ""
    if connection.vendor == "postgresql":
        # The statement's own commit does not wait for the WAL flush, which was most of its
        # cost (bench/quota_audit.py): set_config(..., true) holds for this statement's
        # implicit transaction, and the commit reads the setting before it is undone. A crash
        # may lose the last fraction of a second of entries, never corrupt them; the write
        # they describe had already committed durably.
        returning_extra = ", set_config('synchronous_commit', 'off', true)"
    inserts.insert(entry, send_signals=False, returning_extra=returning_extra)


def record_log_entry(entry: Any, origin: Origin | None = None) -> AuditEntry:
    """Mirrors one admin ``LogEntry`` (what the console changed, with Django's change message)."""
    model = entry.content_type.model_class() if entry.content_type_id else None
    object_type = model._meta.label if model is not None else ""
    return record(
        via=AuditEntry.ADMIN,
        action=ADMIN_ACTIONS.get(entry.action_flag, str(entry.action_flag)),
        actor=entry.user,
        target=Target(type=object_type, id=entry.object_id or "", repr=entry.object_repr or ""),
        route=origin.route if origin is not None else "",
        method=origin.method if origin is not None else "",
        ip_address=origin.ip_address if origin is not None else "",
        request_id=origin.request_id if origin is not None else "",
        detail={"log_entry_id": entry.pk, "change_message": entry.get_change_message()},
    )


def purge_expired(now: dt.datetime | None = None) -> int:
    """Deletes entries older than ``AUDIT_RETENTION_DAYS`` (0: keep all); how many it deleted."""
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    deleted, _ = AuditEntry.objects.filter(created_at__lt=cutoff).delete()
    return deleted
