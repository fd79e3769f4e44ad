"""All ``/api`` routes of the knowledge app, one module per area."""

from __future__ import annotations

from knowledge.api import bases, documents, qa_history, rag, retrievers, share, tables, web_scraper

urlpatterns = [
    *tables.urlpatterns,
    *bases.urlpatterns,
    *documents.urlpatterns,
    *rag.urlpatterns,
    *retrievers.urlpatterns,
    *web_scraper.urlpatterns,
    *qa_history.urlpatterns,
    *share.urlpatterns,
]
