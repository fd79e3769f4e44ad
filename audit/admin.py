"""The audit trail in the console: filterable, searchable, never editable (not even by a
superuser: no add, change or delete, and no bulk delete action)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor_name",
        "on_behalf_of_name",
        "via",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "route",
        "ip_address",
        "status_code",
    )
    list_filter = ("via", "action", "object_type", "created_at", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("actor_name", "on_behalf_of_name", "object_id", "object_repr", "route", "ip_address")
    date_hierarchy = "created_at"
    list_select_related = False
    show_full_result_count = False  # a long trail: no COUNT(*) of the whole table per page
    actions = None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
