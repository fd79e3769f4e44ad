"""Events the knowledge app pushes over ``/chat`` (this server's addition: the reference has no
indexing progress event). Sent to the uploader's user room."""

from __future__ import annotations

from typing import Any

from knowledge.models import KnowledgeDocument

DOCUMENT_STATUS = "knowledge:document_status"


def document_status(doc: KnowledgeDocument) -> dict[str, Any]:
    return {
        "document_id": doc.pk,
        "knowledge_base_id": doc.kind_id,
        "name": doc.name,
        "status": doc.status,
        "is_active": doc.is_active,
        "index_status": doc.index_status,
        "progress": doc.index_progress,
        "error": doc.index_error or None,
        "chunk_count": doc.chunk_count,
    }
