"""All ``/api`` routes of the knowledge app, one module per area."""

from __future__ import annotations

from knowledge.api import bases, documents, rag, retrievers, tables

urlpatterns = [
    *tables.urlpatterns,
    *bases.urlpatterns,
    *documents.urlpatterns,
    *rag.urlpatterns,
    *retrievers.urlpatterns,
]
