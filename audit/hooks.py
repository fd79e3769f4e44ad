"""What the audit app listens to (installed by AuditConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.admin.models import LogEntry
from django.db.models.signals import post_save

from audit import context, services

logger = logging.getLogger(__name__)


def _log_entry_saved(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """A ``LogEntry`` written outside an admin request (a command, a console action run from a
    shell): mirrored at once. Inside an admin request the middleware mirrors them all after
    the view, bulk-created ones included."""
    origin = context.current.get()
    if not created or (origin is not None and origin.admin):
        return
    try:
        services.record_log_entry(instance, origin)
    except Exception:
        logger.exception("audit: could not mirror admin log entry %s", instance.pk)


def install() -> None:
    post_save.connect(_log_entry_saved, sender=LogEntry, dispatch_uid="audit.log_entry_saved")
