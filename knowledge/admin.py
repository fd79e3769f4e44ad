"""Operator console for knowledge documents: browse them with their indexing state, and reindex.

Documents change through the services (the action calls the indexing service), so the chunks and
the keyword and vector indexes stay consistent."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from knowledge.models import KnowledgeDocument
from knowledge.services import indexing


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "kind_id",
        "user",
        "status",
        "index_status",
        "index_progress",
        "chunk_count",
    )
    list_filter = ("status", "index_status", "source_type")
    search_fields = ("name",)
    readonly_fields = [f.name for f in KnowledgeDocument._meta.fields]
    actions = ["reindex"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Reindex the selected documents")
    def reindex(self, request: HttpRequest, queryset: QuerySet[KnowledgeDocument]) -> None:
        done = sum(1 for doc in queryset if indexing.reindex_now(doc.pk) is not None)
        messages.info(request, f"Reindexed {done} document(s).")
