"""The audit trail: one row per write, whoever made it and however they reached us.

Rows are written by the services in ``audit.services`` only (the API middleware, the admin's
``LogEntry`` mirror, the realtime handlers) and never changed afterwards; the console shows
them read-only. Names are copied next to the user links so an entry still says who acted after
the account is gone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    API, ADMIN, SOCKET, SYSTEM = "api", "admin", "socket", "system"
    VIAS = [(API, "REST API"), (ADMIN, "Admin console"), (SOCKET, "Socket.IO"), (SYSTEM, "System")]

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Who acted: for a service key, the key's owner (``actor``) acting as a user (``on_behalf_of``).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=64, blank=True, default="")
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_behalf_of_name = models.CharField(max_length=64, blank=True, default="")
    via = models.CharField(max_length=8, choices=VIAS)
    # create / update / delete, or the verb of a route or event (``chat.send``, ``chat.cancel``).
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=100, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    # The URL pattern (``api/tasks/<int:task_id>``) or the Socket.IO event; the method for HTTP.
    route = models.CharField(max_length=200, blank=True, default="")
    method = models.CharField(max_length=8, blank=True, default="")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip_address = models.CharField(max_length=64, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["actor", "created_at"], name="audit_actor_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        target = f"{self.object_type} {self.object_id}".strip()
        return f"{self.actor_name or 'anonymous'} {self.action} {target} via {self.via}"
